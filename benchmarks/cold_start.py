"""Cold-start forecasts on real London households: customers held out as 'new' with 0, 7 or 30 days of
history, against the same customers with their full history and against a category-mean baseline.

Data: the Low Carbon London daily kWh in ``../shared/data/london_smart_meters`` (every 4th of the 112
daily blocks, about 1,400 households across all ACORN groups; full days only). Category = ACORN group
(Affluent / Comfortable / Adversity), tariff = Std / ToU (the data has no region).

At each of four issue days (2013-01-14, 2013-04-15, 2013-07-15, 2013-10-14) a seeded 25 % of the
households with at least 90 % of days over the 56 days before and the 28 days after are held out as
'new'; the others are their peers. Every method forecasts each held-out household's daily kWh for the 28
days from the issue day, from readings before it only:

- ``cold_start_{0,7,30}d`` (:mod:`training.cold_start`): the peers' prior (ACORN group + tariff, falling
  back to the group, then everyone; at least 20 peers) mixed with the household's own last k days by
  credibility (``k0`` estimated on the peers), times the peers' weekday shape;
- ``full_history``: the household's own mean over the last 28 days times its own weekday shape (8 weeks);
- ``category_mean``: the mean daily kWh of the peers of its ACORN group over the last 28 days, flat.

Error: WAPE = sum |actual - forecast| / sum actual over held-out households x days (all four issue days
pooled; per issue day too). Writes ``benchmarks/results/cold_start.json``.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from harness.results import finish

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from training.cold_start import build_prior, cold_start_forecast

logger = logging.getLogger("cold_start")
LONDON = Path(__file__).resolve().parents[2] / "shared" / "data" / "london_smart_meters"
BLOCK_STEP = 4
ISSUES = ("2013-01-14", "2013-04-15", "2013-07-15", "2013-10-14")
HISTORY_DAYS = (0, 7, 30)
HORIZON, WINDOW, SHAPE_WEEKS = 28, 28, 8
HOLD_OUT, SEED = 0.25, 20_241_123
KEYS = ("socio_group", "tariff")


def load() -> tuple[pd.DataFrame, pd.DataFrame]:
    info = pd.read_csv(LONDON / "informations_households.csv")
    blocks = [f"block_{i}" for i in range(0, 112, BLOCK_STEP)]
    frames = []
    for block in blocks:
        df = pd.read_csv(
            LONDON / "daily_dataset" / f"{block}.csv.xz", usecols=["LCLid", "day", "energy_sum", "energy_count"]
        )
        frames.append(df[(df["energy_count"] == 48) & df["energy_sum"].notna()])
    daily = pd.concat(frames, ignore_index=True)
    readings = pd.DataFrame(
        {
            "customer_id": daily["LCLid"].to_numpy(),
            "reading_date": pd.to_datetime(daily["day"]).to_numpy(),
            "kwh": daily["energy_sum"].to_numpy(dtype=float),
        }
    )
    attrs = info[info["file"].isin(blocks)].rename(
        columns={"LCLid": "customer_id", "Acorn_grouped": "socio_group", "stdorToU": "tariff"}
    )[["customer_id", "socio_group", "tariff"]]
    return readings, attrs


def wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.abs(actual - forecast).sum() / actual.sum())


def own_history_forecast(own: pd.DataFrame, issue: pd.Timestamp) -> pd.DataFrame:
    """Own last-28-day mean x own weekday shape (8 weeks): what a household with history gets here."""
    recent = own[own["reading_date"] >= issue - pd.Timedelta(days=WINDOW)]
    level = recent.groupby("customer_id")["kwh"].mean()
    weekday = own.groupby([own["customer_id"], own["reading_date"].dt.dayofweek])["kwh"].mean().unstack()
    shape = weekday.div(weekday.mean(axis=1), axis=0).reindex(columns=range(7)).fillna(1.0)
    days = pd.date_range(issue, periods=HORIZON, freq="D")
    values = level.to_numpy()[:, None] * shape.reindex(level.index).to_numpy()[:, days.dayofweek.to_numpy()]
    return pd.DataFrame(
        {
            "customer_id": np.repeat(level.index.to_numpy(), HORIZON),
            "reading_date": np.tile(days.to_numpy(), len(level)),
            "kwh_p50": values.ravel(),
        }
    )


def one_issue(readings: pd.DataFrame, attrs: pd.DataFrame, issue: pd.Timestamp, rng) -> dict:
    span = readings[
        (readings["reading_date"] >= issue - pd.Timedelta(days=7 * SHAPE_WEEKS))
        & (readings["reading_date"] < issue + pd.Timedelta(days=HORIZON))
    ]
    coverage = span.groupby("customer_id").size() / (7 * SHAPE_WEEKS + HORIZON)
    eligible = np.intersect1d(coverage.index[coverage >= 0.9], attrs["customer_id"])
    held = rng.choice(eligible, int(len(eligible) * HOLD_OUT), replace=False)
    is_held = readings["customer_id"].isin(held)
    before = readings["reading_date"] < issue
    peers, peer_attrs = readings[~is_held & before], attrs[~attrs["customer_id"].isin(held)]
    new_attrs = attrs[attrs["customer_id"].isin(held)]
    own = readings[is_held & before]
    actual = readings[is_held & ~before & (readings["reading_date"] < issue + pd.Timedelta(days=HORIZON))]
    forecasts = {}
    prior = build_prior(
        peers, peer_attrs, new_attrs, issue=issue, keys=KEYS, window_days=WINDOW, shape_weeks=SHAPE_WEEKS
    )
    for k in HISTORY_DAYS:
        seen = own[own["reading_date"] >= issue - pd.Timedelta(days=k)] if k else own.iloc[:0]
        forecasts[f"cold_start_{k}d"] = cold_start_forecast(prior, seen, issue=issue, horizon_days=HORIZON)
    forecasts["full_history"] = own_history_forecast(
        own[own["reading_date"] >= issue - pd.Timedelta(weeks=SHAPE_WEEKS)], issue
    )
    flat = build_prior(peers, peer_attrs, new_attrs, issue=issue, keys=KEYS[:1], window_days=WINDOW)
    base = cold_start_forecast(flat, own.iloc[:0], issue=issue, horizon_days=HORIZON)
    forecasts["category_mean"] = base.assign(kwh_p50=np.repeat(flat.level.to_numpy(), HORIZON))
    out = {"issue": str(issue.date()), "new_customers": len(held), "peers": int(peers["customer_id"].nunique())}
    out["k0_days"] = prior.k0
    pairs = {}
    for name, fc in forecasts.items():
        joined = actual.merge(fc, on=["customer_id", "reading_date"], how="inner")
        assert len(joined) == len(actual), (name, len(joined), len(actual))  # every actual day forecast
        pairs[name] = (joined["kwh"].to_numpy(), joined["kwh_p50"].to_numpy())
        out[f"wape_{name}"] = wape(*pairs[name])
    out["basis_example"] = str(prior.basis.iloc[0])
    return out, pairs


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    readings, attrs = load()
    logger.info("%d households, %d days read", readings["customer_id"].nunique(), len(readings))
    rng = np.random.default_rng(SEED)
    per_issue, pooled = [], {}
    for issue in ISSUES:
        out, pairs = one_issue(readings, attrs, pd.Timestamp(issue), rng)
        per_issue.append(out)
        for name, (a, f) in pairs.items():
            pa, pf = pooled.get(name, ([], []))
            pooled[name] = ([*pa, a], [*pf, f])
        logger.info("%s", out)
    result = {
        "households": int(readings["customer_id"].nunique()),
        "blocks": f"every {BLOCK_STEP}th of 112",
        "issues": list(ISSUES),
        "horizon_days": HORIZON,
        "keys": list(KEYS),
        **{f"wape_{n}": wape(np.concatenate(a), np.concatenate(f)) for n, (a, f) in pooled.items()},
        "cold_30d_over_full_history": None,
        "per_issue": per_issue,
        "seconds": time.perf_counter() - started,
    }
    result["cold_30d_over_full_history"] = result["wape_cold_start_30d"] / result["wape_full_history"]
    gates = {
        "cold_start_0d_not_worse_than_category_mean": result["wape_cold_start_0d"] <= result["wape_category_mean"],
        "cold_start_30d_beats_category_mean": result["wape_cold_start_30d"] < result["wape_category_mean"],
        "own_history_helps_7d_30d_beat_0d": max(result["wape_cold_start_7d"], result["wape_cold_start_30d"])
        < result["wape_cold_start_0d"],
    }
    finish("cold_start", result, gates)


if __name__ == "__main__":
    main()
