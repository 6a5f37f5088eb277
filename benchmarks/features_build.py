"""Benchmark: whole profile build (usage + payments) on a generated tenant, against a DuckDB floor.

Writes ``benchmarks/results/features_build.json`` (+ .md); ``--customers 2050000`` writes
``features_build_scale.json``. Gates (from this run's figures; exit 1 when one fails): peak RSS of the
build under 2 GiB, build time within 2x the DuckDB floor, one profile row per customer.

Default run (no arguments): 100,000 customers x 365 daily readings, 12 monthly bills each, their
payments. Data is generated once into ``benchmarks/out/`` (not timed). Each measurement then runs in
a fresh Python subprocess so its peak RSS (``ru_maxrss``) is its own:

- ``build``: read the Parquet files with the product's reader :func:`features.io.read_table` (timed
  apart as ``load_seconds``), then ``build_profiles``
  (``seconds``; ``rows_per_s`` = daily readings / seconds);
- ``duckdb``: the 16 bare usage aggregates (mean/median/std/max over 30/90/365 days, zero share,
  weekday/weekend and winter/summer ratios, slope) on the same readings, loaded into a DuckDB table
  first (query timed = ``duckdb_floor_seconds``) and also straight from Parquet.

``--customers 2050000`` instead generates Parquet partitions on disk and builds them out of core on a
local Dask cluster (2 single-threaded worker processes); peak RSS is the sampled sum over the whole
process tree.

Run: ``flock /tmp/meterwise-heavy.lock .venv/bin/python benchmarks/features_build.py``
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

from harness.results import finish

logger = logging.getLogger("features_build")
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
RESULTS = ROOT / "benchmarks" / "results"
NAME = "features_build"
AS_OF = "2024-12-31"
DEFAULT_CUSTOMERS = 100_000
SEED = 0
PEAK_RSS_MIB_LIMIT = 2048.0  # build incl. reading the Parquet files, 100k customers x 365 days
FLOOR_RATIO_LIMIT = 2.0  # build seconds / DuckDB floor seconds

DUCKDB_SQL = """
WITH r AS (
  SELECT customer_id, reading_date, kwh,
         date_diff('day', reading_date::DATE, DATE '{as_of}') AS age,
         isodow(reading_date) >= 6 AS weekend, month(reading_date) AS m
  FROM {src} WHERE reading_date <= DATE '{as_of}' AND reading_date > DATE '{as_of}' - INTERVAL 365 DAY
)
SELECT customer_id,
  avg(kwh) FILTER (WHERE age < 30) AS kwh_mean_30d, median(kwh) FILTER (WHERE age < 30) AS kwh_median_30d,
  stddev_samp(kwh) FILTER (WHERE age < 30) AS kwh_std_30d, max(kwh) FILTER (WHERE age < 30) AS kwh_max_30d,
  avg(kwh) FILTER (WHERE age < 90) AS kwh_mean_90d, median(kwh) FILTER (WHERE age < 90) AS kwh_median_90d,
  stddev_samp(kwh) FILTER (WHERE age < 90) AS kwh_std_90d, max(kwh) FILTER (WHERE age < 90) AS kwh_max_90d,
  avg(kwh) AS kwh_mean_365d, median(kwh) AS kwh_median_365d, stddev_samp(kwh) AS kwh_std_365d,
  max(kwh) AS kwh_max_365d, avg((kwh = 0)::DOUBLE) AS zero_share_365d,
  avg(kwh) FILTER (WHERE NOT weekend) / avg(kwh) FILTER (WHERE weekend) AS weekday_weekend_ratio,
  avg(kwh) FILTER (WHERE m IN (12, 1, 2)) / avg(kwh) FILTER (WHERE m IN (6, 7, 8)) AS winter_summer_ratio,
  regr_slope(kwh, -age) AS kwh_slope_365d
FROM r GROUP BY customer_id
"""


def _data_dir(customers: int) -> Path:
    return OUT / f"features_tenant_{customers}_seed{SEED}"


def _ensure_data(customers: int) -> Path:
    from features.synthetic import generate_tenant, write_tenant

    folder = _data_dir(customers)
    if not (folder / "_DONE").exists():
        t0 = time.perf_counter()
        write_tenant(generate_tenant(customers, end=__import__("pandas").Timestamp(AS_OF), seed=SEED), folder)
        (folder / "_DONE").write_text("ok\n")
        logger.info("generated %d customers in %.1fs -> %s", customers, time.perf_counter() - t0, folder)
    return folder


def _peak_self_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child_build(folder: Path) -> dict:
    import pandas as pd

    from features.io import read_table
    from features.profiles import build_profiles

    t0 = time.perf_counter()
    tables = {n: read_table(folder / f"{n}.parquet") for n in ("customers", "readings", "bills", "payments", "weather")}
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    profiles = build_profiles(tables, as_of=pd.Timestamp(AS_OF))
    build_s = time.perf_counter() - t1
    return {
        "load_seconds": load_s,
        "seconds": build_s,
        "profile_rows": len(profiles),
        "profile_columns": profiles.shape[1] - 1,
        "readings": len(tables["readings"]),
        "bills": len(tables["bills"]),
        "payments": len(tables["payments"]),
        "peak_rss_self_mib": _peak_self_mib(),
    }


def child_duckdb(folder: Path) -> dict:
    import duckdb

    path = str(folder / "readings.parquet")
    con = duckdb.connect()
    t0 = time.perf_counter()
    direct = con.execute(DUCKDB_SQL.format(as_of=AS_OF, src=f"read_parquet('{path}')")).df()
    direct_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    con.execute(f"CREATE TABLE readings AS SELECT * FROM read_parquet('{path}')")
    load_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    res = con.execute(DUCKDB_SQL.format(as_of=AS_OF, src="readings")).df()
    query_s = time.perf_counter() - t2
    assert len(res) == len(direct)
    return {
        "duckdb_floor_seconds": query_s,
        "duckdb_load_seconds": load_s,
        "duckdb_from_parquet_seconds": direct_s,
        "duckdb_columns": res.shape[1] - 1,
        "duckdb_threads": int(con.execute("SELECT current_setting('threads')").fetchone()[0]),
        "duckdb_peak_rss_mib": _peak_self_mib(),
    }


def _run_child(kind: str, folder: Path) -> tuple[dict, float]:
    """Run one measurement in a fresh interpreter; returns its JSON and the children's peak RSS (MiB)."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--folder", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} child failed:\n{proc.stderr[-3000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return json.loads(proc.stdout.strip().splitlines()[-1]), peak


def _machine() -> str:
    import os

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.machine()}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, Python {platform.python_version()}"


def _load_avg() -> float:
    import os

    return round(os.getloadavg()[0], 2)


def run_default(customers: int, repeats: int = 3) -> dict:
    """Build and DuckDB floor, each `repeats` times in fresh subprocesses, alternating; best time kept.

    The 2-core machine is shared, so single timings are noisy: the minimum over repeats is the
    figure of merit and every run is kept in ``runs``. Peak RSS is the worst build run's.
    """
    folder = _ensure_data(customers)
    load_before = _load_avg()
    builds, floors = [], []
    for i in range(repeats):
        build, children_peak = _run_child("build", folder)
        if i == 0:  # only child so far: RUSAGE_CHILDREN is exactly its peak; cross-check the self-report
            build["peak_rss_children_mib"] = children_peak
        builds.append(build)
        floors.append(_run_child("duckdb", folder)[0])
    best = min(builds, key=lambda b: b["seconds"])
    floor = min(floors, key=lambda f: f["duckdb_floor_seconds"])
    result = {
        "customers": customers,
        "profile_rows": best["profile_rows"],
        "readings": best["readings"],
        "bills": best["bills"],
        "payments": best["payments"],
        "seconds": round(best["seconds"], 3),
        "rows_per_s": round(best["readings"] / best["seconds"]),
        "peak_rss_mib": round(max(b["peak_rss_self_mib"] for b in builds), 1),
        "load_seconds": round(best["load_seconds"], 3),
        "profile_columns": best["profile_columns"],
        "duckdb_floor_seconds": round(floor["duckdb_floor_seconds"], 3),
        "duckdb_from_parquet_seconds": round(min(f["duckdb_from_parquet_seconds"] for f in floors), 3),
        "duckdb_peak_rss_mib": round(max(f["duckdb_peak_rss_mib"] for f in floors), 1),
        "duckdb_threads": floor["duckdb_threads"],
        "ratio_to_floor": round(best["seconds"] / floor["duckdb_floor_seconds"], 2),
        "as_of": AS_OF,
        "repeats": repeats,
        "runs": {
            "build_seconds": [round(b["seconds"], 3) for b in builds],
            "build_peak_rss_mib": [round(b["peak_rss_self_mib"], 1) for b in builds],
            "build_peak_rss_children_mib_first_run": round(builds[0]["peak_rss_children_mib"], 1),
            "duckdb_floor_seconds": [round(f["duckdb_floor_seconds"], 3) for f in floors],
            "duckdb_from_parquet_seconds": [round(f["duckdb_from_parquet_seconds"], 3) for f in floors],
        },
        "machine": _machine(),
        "load_avg_1m_before_after": [load_before, _load_avg()],
        "note": (
            "seconds = build_profiles (usage + payments, single process) after loading Parquet (load_seconds),"
            " best of `repeats` fresh subprocesses; peak_rss_mib = worst ru_maxrss of those subprocesses,"
            " Parquet loading included; duckdb_floor_seconds = best time of the 16 bare usage aggregates on a"
            " DuckDB table already loaded from the same Parquet. The 2-core machine is shared with other jobs."
            " Usage features are built per block of 25,000 customers (build_profiles' default chunk_customers)."
        ),
    }
    _write_table(result)
    return result


def default_gates(r: dict) -> dict[str, bool]:
    """Gates of the default run, from its own figures."""
    return {
        "peak_rss_under_2_gib": r["peak_rss_mib"] < PEAK_RSS_MIB_LIMIT,
        "within_2x_duckdb_floor": r["ratio_to_floor"] <= FLOOR_RATIO_LIMIT,
        "one_row_per_customer": r["profile_rows"] == r["customers"],
    }


def _write_table(r: dict) -> None:
    lines = [
        "# features benchmark",
        "",
        f"{r['customers']:,} customers, {r['readings']:,} daily readings, {r['bills']:,} bills, "
        f"{r['payments']:,} payments; as_of {r['as_of']}; {r['machine']}",
        "",
        "| step | seconds | peak RSS (MiB) | columns |",
        "|---|---:|---:|---:|",
        f"| build_profiles (usage + payments), best of {r['repeats']} | {r['seconds']} | {r['peak_rss_mib']} | "
        f"{r['profile_columns']} |",
        f"| read Parquet (before the build) | {r['load_seconds']} | (incl. above) | |",
        f"| DuckDB floor, loaded table ({r['duckdb_threads']} threads) | {r['duckdb_floor_seconds']} | "
        f"{r['duckdb_peak_rss_mib']} | 16 |",
        f"| DuckDB floor, straight from Parquet | {r['duckdb_from_parquet_seconds']} | | 16 |",
        "",
        f"ratio to floor: **{r['ratio_to_floor']}x**; rows/s: {r['rows_per_s']:,}",
        "",
        f"all runs: build {r['runs']['build_seconds']} s, DuckDB {r['runs']['duckdb_floor_seconds']} s; "
        f"load average (1 min) before/after {r['load_avg_1m_before_after']} on a machine shared with other jobs",
        "",
    ]
    (RESULTS / f"{NAME}.md").write_text("\n".join(lines))


class _TreeSampler:
    """Samples the summed RSS of this process and all its descendants (psutil) every `interval` s."""

    def __init__(self, interval: float = 0.2):
        import psutil

        self.proc, self.interval, self.peak, self._stop = psutil.Process(), interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            for p in [self.proc, *self.proc.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> _TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_scale(customers: int, workers: int = 2, customers_per_partition: int = 50_000) -> dict:
    import shutil

    import pandas as pd

    from features.distributed import build_profiles_partitioned, local_client
    from features.synthetic import write_partitioned

    root = OUT / f"features_scale_{customers}_seed{SEED}"
    n_parts = max(1, -(-customers // customers_per_partition))
    if not (root / "_DONE").exists():
        t0 = time.perf_counter()
        write_partitioned(root, customers, n_parts, seed=SEED)
        (root / "_DONE").write_text("ok\n")
        logger.info("generated %d customers in %d partitions in %.0fs", customers, n_parts, time.perf_counter() - t0)
    folders = sorted(p for p in root.glob("part-*") if p.is_dir())
    out_dir = OUT / f"features_scale_profiles_{customers}"
    shutil.rmtree(out_dir, ignore_errors=True)
    with _TreeSampler() as sampler:
        t0 = time.perf_counter()
        with local_client(workers) as client:
            start_s = time.perf_counter() - t0
            t1 = time.perf_counter()
            rows = build_profiles_partitioned(
                folders, out_dir, as_of=pd.Timestamp(AS_OF), weather_path=root / "weather.parquet", client=client
            )
            build_s = time.perf_counter() - t1
    scale = {
        "customers": customers,
        "profile_rows": rows,
        "partitions": len(folders),
        "seconds": round(build_s, 1),
        "cluster_start_seconds": round(start_s, 1),
        "load_avg_1m_after": _load_avg(),
        "peak_rss_mib": round(sampler.peak / 2**20, 1),
        "workers": workers,
        "machine": _machine(),
    }
    return scale


def scale_gates(r: dict) -> dict[str, bool]:
    return {"one_row_per_customer": r["profile_rows"] == r["customers"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="default run: fresh-process repeats, best kept")
    parser.add_argument("--child", choices=("build", "duckdb"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        out = child_build(args.folder) if args.child == "build" else child_duckdb(args.folder)
        sys.stdout.write(json.dumps(out) + "\n")  # to the parent process (see _run_child)
        return
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(message)s")
    logging.getLogger("distributed").setLevel(logging.WARNING)
    if args.customers > 500_000:  # out of core on a local Dask cluster
        result = run_scale(args.customers, workers=args.workers)
        finish(f"{NAME}_scale", result, scale_gates(result))
    else:
        result = run_default(args.customers, args.repeats)
        finish(NAME, result, default_gates(result))


if __name__ == "__main__":
    main()
