"""Row conservation under random corruption (shared with the benchmark): every input row of every table
ends up accepted or quarantined, and each quarantined row names column, check, value, file and line."""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

from features.io import load_tenant
from harness.tenant import NOW, small_tenant

#: (table, column, bad value, what the contract says)
CORRUPTIONS = [
    ("readings", "kwh", -5.0, "non_negative"),
    ("readings", "kwh", "abc", "not a number"),
    ("readings", "customer_id", "GHOST", "unknown customer"),
    ("readings", "reading_date", "not-a-date", "unparsable date"),
    ("bills", "amount", -1.0, "non_negative"),
    ("bills", "customer_id", "GHOST", "unknown customer"),
    ("payments", "bill_id", "NO-SUCH-BILL", "unknown bill"),
    ("payments", "amount", 0.0, "positive"),
    ("payments", "channel", "carrier pigeon", "unknown channel"),
    ("customers", "category", "spaceship", "unknown category"),
    ("weather", "temperature_c", 99.0, "implausible"),
]


def corrupt_and_load(folder: Path, seed: int, n_bad: int = 12) -> dict:
    """Write a tenant as CSV with `n_bad` seeded corruptions, load it with quarantine, account rows."""
    rng = random.Random(seed)
    tables = {k: v.astype(object) for k, v in small_tenant(8, days=120, seed=seed).items()}
    touched: dict[str, set[int]] = {}
    for _ in range(n_bad):
        table, column, value, _why = rng.choice(CORRUPTIONS)
        row = rng.randrange(len(tables[table]))
        tables[table].loc[row, column] = value
        touched.setdefault(table, set()).add(row)
    data = folder / f"tenant-{seed}"
    data.mkdir(parents=True)
    for name, df in tables.items():
        df.to_csv(data / f"{name}.csv", index=False)
    quarantine = folder / f"quarantine-{seed}"
    out, report = load_tenant(data, now=NOW, quarantine_dir=quarantine)
    problems = []
    totals = {"in": 0, "accepted": 0, "quarantined": 0}
    for name, df in tables.items():
        counts = report.counts[name]
        for k in totals:
            totals[k] += counts[k]
        if counts["in"] != len(df) or counts["accepted"] != len(out[name]):
            problems.append(f"{name}: counts {counts} vs {len(df)} written, {len(out[name])} returned")
        if counts["accepted"] + counts["quarantined"] != counts["in"]:
            problems.append(f"{name}: {counts} do not add up")
        path = Path(report.quarantine_dir) / f"{name}.rejected.csv"  # this run's folder: <quarantine>/<run_id>/
        rejected = pd.read_csv(path, dtype=str) if path.exists() else pd.DataFrame(columns=["row", "line"])
        if len(rejected) != counts["quarantined"]:
            problems.append(f"{name}: {len(rejected)} rows in the quarantine file, {counts['quarantined']} counted")
        lines = set(rejected["line"].astype(int)) if len(rejected) else set()
        missed = {r for r in touched.get(name, set()) if r + 2 not in lines}  # header is line 1
        if missed:
            problems.append(f"{name}: corrupted rows {sorted(missed)[:5]} were accepted")
        raw = (data / f"{name}.csv").read_text().splitlines()
        for rec in rejected.to_dict("records"):
            if not str(rec.get("reasons") or "").strip() or "value=" not in str(rec["reasons"]):
                problems.append(f"{name}: row {rec['row']} has no reason with its value")
            if rec.get("source") != str(data / f"{name}.csv"):
                problems.append(f"{name}: row {rec['row']} names source {rec.get('source')}")
            first = str(rec.get(df.columns[0]))
            if not raw[int(rec["line"]) - 1].startswith(first):
                problems.append(f"{name}: line {rec['line']} of the file does not hold the quarantined row")
    return {"totals": totals, "problems": problems}
