"""A big score body's feature columns, parsed to arrays, hold exactly what the strict decoder gives."""

from __future__ import annotations

import msgspec
import numpy as np
import orjson
import pytest

from serving.json_columns import ARRAY_BODY_BYTES, DECODER, SENTINEL, decode_score_body


def strict(body: bytes) -> dict[str, np.ndarray]:
    return {k: np.array(v, dtype=np.float64) for k, v in DECODER.decode(body).features.items()}


def same(body: bytes) -> dict[str, np.ndarray]:
    """Columns of `body` by the array path; asserts they equal the strict decoder's, bit for bit."""
    assert len(body) >= ARRAY_BODY_BYTES
    got = decode_score_body(body).features
    want = strict(body)
    assert list(got) == list(want)
    for name, values in want.items():
        assert isinstance(got[name], np.ndarray) and got[name].dtype == np.float64
        assert np.array_equal(got[name].view(np.int64), values.view(np.int64)), name  # NaN and -0.0 too
    return got


PAD = "[" + ",".join(["0.5"] * 40_000) + "]"  # keeps every test body past ARRAY_BODY_BYTES


def column_body(*columns: str) -> bytes:
    """A body whose columns are given as raw JSON arrays (spellings the client chose), then a padding one."""
    named = b", ".join(b'"c%d": %s' % (i, c.encode()) for i, c in enumerate([*columns, PAD]))
    return b'{"features": {' + named + b"}}"


def test_random_columns_with_nulls_ints_and_extremes_match_the_strict_decoder():
    rng = np.random.default_rng(7)
    n = 5_000
    cols = {}
    for j in range(12):
        values = rng.normal(0, 10.0 ** rng.integers(-5, 12), n).round(int(rng.integers(0, 15))).astype(object)
        values[rng.random(n) < [0.0, 0.05, 0.9, 1.0][j % 4]] = None
        cols[f"f{j}"] = values.tolist()
    cols["ints"] = rng.integers(-(2**62), 2**62, n).tolist()
    cols["extremes"] = [5e-324, -5e-324, 1.7976931348623157e308, 2.2250738585072014e-308, -0.0, 0.0, 0] * 700
    body = orjson.dumps({"customer_ids": [f"C{i}" for i in range(n)], "features": cols, "include_reasons": False})
    got = same(body)
    assert np.isnan(got["f3"]).all() and not np.isnan(got["f0"]).any()
    parsed = decode_score_body(body)
    assert parsed.customer_ids[:2] == ["C0", "C1"] and parsed.include_reasons is False


def test_spellings_json_allows_are_read_as_the_strict_decoder_reads_them():
    tokens = ["1E3", "-2.5e-3", "0.1", "10", "-0", "1e+2", "null", " null ", "123456789012345678"]
    spelled = "[" + ", ".join(tokens * 2_000) + "]"
    same(column_body(spelled, "[" + ",".join(["null"] * 30_000) + "]"))


def test_a_client_value_equal_to_the_null_sentinel_stays_a_value():
    n = 20_000
    values = [SENTINEL if i % 7 == 0 else (None if i % 5 == 0 else float(i)) for i in range(n)]
    got = same(orjson.dumps({"features": {"a": values}}))["a"]
    assert (got == SENTINEL).sum() == len(range(0, n, 7)) and np.isnan(got).sum() == sum(
        1 for i in range(n) if i % 5 == 0 and i % 7
    )
    # spelled otherwise, with no null beside it
    same(column_body("[" + ",".join(["9E99", "9e+99", "1"] * 7_000) + "]"))


def test_an_integer_beyond_64_bits_is_read_as_msgspec_reads_it():
    same(column_body("[" + ",".join(["18446744073709551616", "null", "2"] * 7_000) + "]"))


@pytest.mark.parametrize(
    "bad",
    ['"1.5"', "true", "false", '"null"', "[1]", '{"a": 1}', '"n"', "1e400"],
)
def test_a_value_the_strict_decoder_refuses_is_refused(bad):
    column = "[" + ",".join(["1.25", "null"] * 10_000 + [bad]) + "]"
    body = column_body(column)
    with pytest.raises(msgspec.ValidationError):
        DECODER.decode(body)
    with pytest.raises(msgspec.ValidationError, match=r"\[20000\]"):  # the lane hands it to the route's 422
        decode_score_body(body)


def test_the_body_shape_is_checked_as_strictly_as_before():
    column = "[" + ",".join(["1.5"] * 40_000) + "]"
    for body in (
        b'{"features": {"a": %s}, "colour": 1}' % column.encode(),  # unknown key
        b'{"features": {"a": %s}, "customer_ids": []}' % column.encode(),  # no ids
        b'{"features": {"a": %s}, "include_reasons": "yes"}' % column.encode(),
        b'{"features": {"a": null}, "pad": "%s"}' % (b"x" * ARRAY_BODY_BYTES),
    ):
        with pytest.raises(msgspec.ValidationError):
            decode_score_body(body)


def test_small_bodies_keep_the_list_decoder():
    body = orjson.dumps({"features": {"a": [1.0, None]}})
    assert decode_score_body(body).features == {"a": [1.0, None]}
