"""Tokenisation of Chinese, English and mixed text; the tenant's dictionary and stop words apply."""

from __future__ import annotations

import pickle

import pytest

from features.work_orders_text import TextConfig, Tokenizer, has_cjk


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer()


def test_mixed_chinese_english_digits(tokenizer):
    tokens = tokenizer.tokens("95598热线：停电3天了，meter ID A123 broken! 电费＊＊＊＊＊元")
    assert tokens == ["95598", "热线", "停电", "3", "天", "了", "meter", "id", "a123", "broken", "电费", "元"]


def test_space_separated_language_keeps_words_and_codes(tokenizer):
    assert tokenizer.tokens("My BILL is too high; account AB-12345.") == [
        "my", "bill", "is", "too", "high", "account", "ab", "12345",
    ]  # fmt: skip
    assert tokenizer.tokens("Facture trop élevée") == ["facture", "trop", "élevée"]


def test_full_width_forms_are_folded(tokenizer):
    assert tokenizer.tokens("ＡＢＣ１２３") == ["abc123"]


def test_user_words_and_stop_words_are_the_tenants():
    plain = Tokenizer().tokens("阶梯电价太贵了")
    assert "阶梯电价" not in plain
    tuned = Tokenizer(TextConfig(user_words=("阶梯电价",), stop_words=("了", "太贵"))).tokens("阶梯电价太贵了")
    assert tuned == ["阶梯电价"]


def test_user_dictionary_and_stop_word_files(tmp_path):
    (tmp_path / "dict.txt").write_text("西地省 10 ns\n", encoding="utf-8")
    (tmp_path / "stop.txt").write_text("的\n\n", encoding="utf-8")
    t = Tokenizer(TextConfig(user_dict=tmp_path / "dict.txt", stop_words_file=tmp_path / "stop.txt"))
    assert t.tokens("西地省的电网") == ["西地省", "电网"]


def test_tokenizer_survives_pickling_with_its_config():
    t = Tokenizer(TextConfig(user_words=("阶梯电价",)))
    t.tokens("阶梯电价")
    again = pickle.loads(pickle.dumps(t))
    assert again.tokens("阶梯电价") == ["阶梯电价"]


def test_join_and_empty_text(tokenizer):
    assert tokenizer.join(["停电 了", "", "!!!"]) == ["停电 了", "", ""]
    assert has_cjk("abc 电") and not has_cjk("abc")
