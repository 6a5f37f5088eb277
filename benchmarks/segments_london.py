"""Benchmark: load-shape segmentation of every London household with a year of data.

Run only as ``flock /tmp/meterwise-heavy.lock .venv/bin/python benchmarks/segments_london.py``.

Data: all 112 daily blocks of ``../shared/data/london_smart_meters`` (full days only, ``energy_count ==
48``), London hourly temperature. Cutoff ``as_of`` 2014-02-27 (last full day), window 365 days; a
household needs 300 days in the window and readings in every month. The model is fitted as ``meterwise
train segments`` does: 20 % of the households (a stable hash of the id) are held out and never fitted on;
k is chosen on an inner held-out share with a penalty per extra segment. Reports the held-out silhouette
(in the model's fixed feature space, scaled on the training households), the in-sample silhouette for
reference, Davies-Bouldin, a real bootstrap stability (households resampled with replacement, k fixed,
ARI against the model on the out-of-bag households only; mean, p10, p90), run time, and, as a weak
outside check only, the association of segments with ACORN group and tariff (Cramér's V and ARI; ACORN is
an area label, nothing is tuned to it). Writes ``benchmarks/results/segments_london.{md,json,png}``.

Gates: held-out silhouette > 0 (better than arbitrary groups), OOB ARI mean >= 0.9 and p10 >= 0.8 (the
documented stability target), a retrain four weeks earlier keeps >= 90 % of households' segment names.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from pathlib import Path

# run as a script, benchmarks/ is sys.path[0], where a sibling benchmarks/features.py would shadow the package
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE.parent), str(_HERE)]
sys.modules.pop("features", None)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from harness.results import finish  # noqa: E402
from scipy.stats import chi2_contingency  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from features.shapes import build_shapes, temperature_response  # noqa: E402
from training.plots.segments import markdown_table, plot_centroids, plot_temperature_response  # noqa: E402
from training.segment_quality import heldout_customers, spread  # noqa: E402
from training.segmentation import LoadShapeSegmenter, bootstrap_stability, evaluate_segments  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "london_smart_meters"
RESULTS = ROOT / "benchmarks" / "results"
AS_OF = pd.Timestamp("2014-02-27")
HELDOUT_FRAC = 0.2  # as training.segments_job.HELDOUT_FRAC
logger = logging.getLogger("benchmarks.segments_london")


def load_london(data: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(readings, customers, weather) in the meterwise contract layout."""
    blocks = sorted(
        (data / "daily_dataset").glob("block_*.csv.xz"), key=lambda p: int(p.stem.split("_")[1].split(".")[0])
    )
    cols = ["LCLid", "day", "energy_sum", "energy_count"]
    raw = pd.concat([pd.read_csv(p, usecols=cols) for p in blocks], ignore_index=True)
    raw = raw[raw["energy_count"].eq(48) & raw["energy_sum"].notna()]
    readings = pd.DataFrame(
        {
            "customer_id": raw["LCLid"].astype(str).to_numpy(),
            "reading_date": pd.to_datetime(raw["day"]).to_numpy(),
            "kwh": raw["energy_sum"].to_numpy(dtype=float),
        }
    )
    info = pd.read_csv(data / "informations_households.csv")
    customers = pd.DataFrame(
        {
            "customer_id": info["LCLid"].astype(str),
            "region": "london",
            "tariff": info["stdorToU"].str.lower(),
            "acorn_group": info["Acorn_grouped"],
        }
    )
    hourly = pd.read_csv(data / "weather_hourly_darksky.csv", usecols=["time", "temperature"])
    observed = pd.to_datetime(hourly["time"]).dt.tz_localize("Europe/London", ambiguous="NaT", nonexistent="NaT")
    weather = pd.DataFrame(
        {"region": "london", "observed_at": observed.dt.tz_convert("UTC"), "temperature_c": hourly["temperature"]}
    )
    return readings, customers, weather.dropna()


def cramers_v(a: pd.Series, b: pd.Series) -> float:
    table = pd.crosstab(a, b).to_numpy()
    chi2 = chi2_contingency(table, correction=False)[0]
    return float(np.sqrt(chi2 / table.sum() / (min(table.shape) - 1)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-boot", type=int, default=20)  # enough runs for a p10 and p90
    parser.add_argument("--method", default="kmeans", choices=["kmeans", "gmm"])
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    t0 = time.perf_counter()
    readings, customers, weather = load_london(DATA)
    t_load = time.perf_counter() - t0

    t1 = time.perf_counter()
    shapes = build_shapes(readings, as_of=AS_OF, weather=weather, customers=customers)
    t_shapes = time.perf_counter() - t1

    held = heldout_customers(shapes.index, HELDOUT_FRAC)
    t2 = time.perf_counter()
    model = LoadShapeSegmenter(method=args.method, random_state=args.seed).fit(shapes[~held])
    t_fit = time.perf_counter() - t2
    metrics = evaluate_segments(model, shapes, random_state=args.seed)
    in_sample = evaluate_segments(model, shapes[~held], random_state=args.seed)
    heldout = evaluate_segments(model, shapes[held], random_state=args.seed)

    t3 = time.perf_counter()
    aris = bootstrap_stability(model, shapes[~held], n_boot=args.n_boot, random_state=args.seed)
    t_boot = time.perf_counter() - t3
    oob = spread(aris)

    pred = model.predict_frame(shapes)
    seg = pred[pred["segment_id"] >= 0].join(customers.set_index("customer_id"))
    outside = {
        "cramers_v_acorn_group": cramers_v(seg["segment_name"], seg["acorn_group"]),
        "ari_acorn_group": float(adjusted_rand_score(seg["acorn_group"], seg["segment_id"])),
        "cramers_v_tariff": cramers_v(seg["segment_name"], seg["tariff"]),
    }
    # a retrain four weeks earlier, names matched to this model's centroids (the champion in production)
    t4 = time.perf_counter()
    earlier = build_shapes(readings, as_of=AS_OF - pd.Timedelta(days=28), weather=weather, customers=customers)
    retrain = LoadShapeSegmenter(method=args.method, random_state=args.seed + 100).fit(earlier, previous=model)
    both = model.predict(shapes)
    again = retrain.predict_frame(shapes)
    common = (both >= 0) & (again["segment_id"].to_numpy() >= 0)
    same_name = float((pred["segment_name"].to_numpy() == again["segment_name"].to_numpy())[common].mean())
    t_retrain = time.perf_counter() - t4
    curve = temperature_response(
        readings, weather, customers, pred.loc[pred["segment_id"] >= 0, "segment_name"], as_of=AS_OF
    )
    seconds_total = time.perf_counter() - t0
    seconds = seconds_total - t_retrain  # load + shapes + fit + metrics + bootstrap (+ outside check)

    RESULTS.mkdir(parents=True, exist_ok=True)
    plot_centroids(model.centroids_, RESULTS / "segments_london_centroids.png")
    plot_temperature_response(curve, RESULTS / "segments_london_temperature.png", order=model.segment_names_)
    result = {
        "households": int(metrics["customers"]),
        "households_total": len(shapes),
        "insufficient": int(metrics["insufficient"]),
        "as_of": str(AS_OF.date()),
        "method": args.method,
        "k": int(model.n_clusters_),
        "k_scores": {str(k): round(v, 4) for k, v in model.selection_scores_.items()},
        "features": len(model.feature_names_in_),
        "households_heldout": int(heldout["customers"]),
        "silhouette_heldout": round(heldout["silhouette"], 4),
        "davies_bouldin_heldout": round(heldout["davies_bouldin"], 4),
        "silhouette_in_sample": round(in_sample["silhouette"], 4),
        "davies_bouldin": round(metrics["davies_bouldin"], 4),
        "k_penalty_per_segment": model.k_penalty,
        "bootstrap_ari_oob": {k: round(v, 4) for k, v in oob.items()},
        "bootstrap_ari_oob_runs": [round(a, 4) for a in aris],
        "stability_target": {"mean": 0.9, "p10": 0.8},
        "sizes": metrics["sizes"],
        "retrain_28d_earlier_k": int(retrain.n_clusters_),
        "retrain_28d_earlier_names_kept": len(retrain.name_matches_),
        "retrain_28d_earlier_same_segment_name_share": round(same_name, 4),
        **{k: round(v, 4) for k, v in outside.items()},
        "seconds": round(seconds, 2),
        "seconds_total_with_retrain_check": round(seconds_total, 2),
        "seconds_load": round(t_load, 2),
        "seconds_shapes": round(t_shapes, 2),
        "seconds_fit": round(t_fit, 2),
        "seconds_bootstrap": round(t_boot, 2),
        "seconds_retrain_check": round(t_retrain, 2),
        "seed": args.seed,
        "machine": f"{platform.machine()} {platform.python_version()}",
    }
    table = pd.DataFrame(
        {"metric": list(result), "value": [json.dumps(v) if isinstance(v, dict | list) else v for v in result.values()]}
    )
    centroids = model.centroids_.assign(
        kwh_per_day=np.expm1(model.centroids_["level_log1p_kwh"]), customers=pd.Series(metrics["sizes"])
    )
    md = [
        "# Segments benchmark: London smart meters (all households with a year of full days)",
        "",
        "Command: `flock /tmp/meterwise-heavy.lock .venv/bin/python benchmarks/segments_london.py`",
        "",
        markdown_table(table),
        "",
        "## Centroids (feature units)",
        "",
        markdown_table(centroids.T.reset_index().rename(columns={"index": "feature"})),
        "",
        "![centroids](segments_london_centroids.png)",
        "",
        "![temperature response](segments_london_temperature.png)",
    ]
    (RESULTS / "segments_london.md").write_text("\n".join(md) + "\n")
    keys = ("households", "k", "silhouette_heldout", "bootstrap_ari_oob", "seconds")
    logger.info("result: %s", json.dumps({k: result[k] for k in keys}))
    gates = {
        "silhouette_heldout_positive": heldout["silhouette"] > 0,
        "bootstrap_ari_oob_mean_at_least_0.9": oob["mean"] >= 0.9,
        "bootstrap_ari_oob_p10_at_least_0.8": oob["p10"] >= 0.8,
        "retrain_keeps_90pct_of_names": same_name >= 0.9,
    }
    finish("segments_london", result, gates)


if __name__ == "__main__":
    main()
