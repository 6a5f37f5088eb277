"""Benchmark: validating 10 million daily readings from CSV, clean and with 100 scattered bad values.

Writes ``benchmarks/results/validation.json``. Two CSV files are generated (seeded) in a temporary folder,
never in the repository: a clean ``readings.csv`` (27,398 customers x 365 days = 10,000,270 readings, as
a utility exports them: ISO dates, kWh with three decimals) and the same file with 100 cells replaced at
seeded random rows by what real exports carry: day-first dates (``31/12/2012``), dates with an offset
(``2012-03-04+02:00``), decimal commas (``6,5``), currency signs (``£3.20``) and text (``12kWh``, ``error``).

Each file is checked by the product's own path, :func:`features.io.check_file` (read every cell as text with
Arrow, parse per column, pandera's row checks on the parsed rows) with ``quarantine=True``, as
``meterwise data validate --quarantine`` does. Each timing runs in a fresh Python process; clean and bad runs
alternate, ``REPEATS`` times each, and the best of each is kept (the machine is shared).

Gates (from this run's figures; exit 1 when one fails):

- ``ratio`` = bad seconds / clean seconds <= 1.5;
- every injected bad value is found, with its line (header = line 1), column and raw value, and nothing else;
- the clean file has no failure, and read = accepted + quarantined in both.

Run: ``flock /tmp/meterwise-heavy.lock .venv/bin/python benchmarks/validation.py``
"""

from __future__ import annotations

import json
import logging
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pv
from harness.results import finish

logger = logging.getLogger("validation")
ROOT = Path(__file__).resolve().parents[1]
CUSTOMERS, DAYS, N_BAD, SEED, REPEATS = 27_398, 365, 100, 7, 2
RATIO_GATE = 1.5
#: (column, raw text) of the injected bad values, cycled over the 100 rows
BAD_VALUES = (
    ("reading_date", "31/12/2012"),
    ("reading_date", "2012-03-04+02:00"),
    ("kwh", "6,5"),
    ("kwh", "£3.20"),
    ("reading_date", "12.03.2012"),
    ("kwh", "12kWh"),
    ("kwh", "error"),
    ("reading_date", "2012-03-04T00:00:00Z"),
)


def generate(folder: Path, customers: int = CUSTOMERS) -> tuple[Path, Path, pd.DataFrame]:
    """Write the clean and the bad CSV; return their paths and the injected cells (line, column, value)."""
    rng = np.random.default_rng(SEED)
    n = customers * DAYS
    ids = np.char.add("MAC", np.char.zfill(np.arange(customers).astype(str), 6))
    days = pd.date_range("2012-01-01", periods=DAYS, freq="D").strftime("%Y-%m-%d").to_numpy()
    kwh = np.round(rng.gamma(2.0, 5.0, n), 3).astype(str)
    columns = {"customer_id": np.repeat(ids, DAYS), "reading_date": np.tile(days, customers), "kwh": kwh}
    rows = np.sort(rng.choice(n, size=N_BAD, replace=False))
    picked = [BAD_VALUES[i % len(BAD_VALUES)] for i in range(N_BAD)]
    injected = pd.DataFrame({"line": rows + 2, "column": [c for c, _ in picked], "value": [v for _, v in picked]})
    clean, bad = folder / "clean" / "readings.csv", folder / "bad" / "readings.csv"
    _write(clean, columns)
    for column, group in injected.groupby("column"):
        columns[column] = columns[column].astype(object)
        columns[column][group["line"].to_numpy() - 2] = group["value"].to_numpy()
    _write(bad, columns)
    return clean, bad, injected


def _write(path: Path, columns: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()})
    pv.write_csv(table, path, write_options=pv.WriteOptions(quoting_style="needed"))


def measure(path: Path) -> dict:
    """Check one file in a fresh process; return seconds, counts and the failures found."""
    code = (
        "import json, sys, time\n"
        "from features.io import check_file\n"
        "t = time.perf_counter()\n"
        f"raw, res = check_file('readings', {str(path)!r}, quarantine=True)\n"
        "s = time.perf_counter() - t\n"
        "f = res.failures\n"
        "cols = ['line', 'column', 'check', 'value']\n"
        "out = f[cols].astype(object).where(f[cols].notna(), None).to_dict('records') if f is not None else []\n"
        "print(json.dumps({'seconds': s, 'rows_in': res.rows_in, 'accepted': len(res.accepted),\n"
        "  'rejected': len(res.rejected), 'failures': out}, default=int))\n"
    )
    env_path = f"{ROOT}"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env={"PYTHONPATH": env_path}
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with tempfile.TemporaryDirectory(prefix="meterwise-validation-") as tmp:
        t = time.perf_counter()
        clean, bad, injected = generate(Path(tmp))
        logger.info("generated %s and %s in %.1f s", clean, bad, time.perf_counter() - t)
        runs: dict[str, list[dict]] = {"clean": [], "bad": []}
        for i in range(REPEATS):
            for name, path in (("clean", clean), ("bad", bad)):
                runs[name].append(measure(path))
                logger.info("%s run %d: %.2f s", name, i + 1, runs[name][-1]["seconds"])
        size_mib = clean.stat().st_size / 2**20
    best = {k: min(v, key=lambda r: r["seconds"]) for k, v in runs.items()}
    found = pd.DataFrame(best["bad"]["failures"], columns=["line", "column", "check", "value"])
    merged = injected.merge(found, on=["line", "column", "value"], how="left", indicator=True)
    missed = merged[merged["_merge"] == "left_only"]
    extra = found.merge(injected, on=["line", "column", "value"], how="left", indicator=True)
    extra = extra[extra["_merge"] == "left_only"]
    ratio = best["bad"]["seconds"] / best["clean"]["seconds"]
    result = {
        "readings": best["clean"]["rows_in"],
        "csv_mib": round(size_mib, 1),
        "bad_values": N_BAD,
        "clean_seconds": round(best["clean"]["seconds"], 2),
        "bad_seconds": round(best["bad"]["seconds"], 2),
        "ratio": round(ratio, 3),
        "clean_runs_seconds": [round(r["seconds"], 2) for r in runs["clean"]],
        "bad_runs_seconds": [round(r["seconds"], 2) for r in runs["bad"]],
        "found_with_line": int(len(injected) - len(missed)),
        "missed": missed[["line", "column", "value"]].to_dict("records"),
        "unexpected_failures": extra[["line", "column", "check", "value"]].head(20).to_dict("records"),
        "checks_found": found["check"].value_counts().to_dict(),
        "quarantined_rows": best["bad"]["rejected"],
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, shared 2-core runner",
    }
    gates = {
        f"ratio <= {RATIO_GATE}": ratio <= RATIO_GATE,
        "every bad value found with its line, column and raw value": missed.empty,
        "no failure besides the injected ones": extra.empty,
        "clean file has no failure": not best["clean"]["failures"],
        "read = accepted + quarantined": all(r["rows_in"] == r["accepted"] + r["rejected"] for r in best.values()),
    }
    finish("validation", result, gates)


if __name__ == "__main__":
    main()
