"""Benchmark: the arrears model on real repayment histories (Taiwan credit-card default, 30,000 clients).

The six monthly statements of each client are mapped into meterwise's ``bills`` / ``payments``
contracts (validated), the *same* feature pipeline (:func:`features.payments.build_payment_profile`,
as of the 7th month's issue date) builds one row per client, and the *same*
:class:`training.arrears.ArrearsRiskModel` is trained. Corrected protocol: early stopping and (Platt, the
model's default; isotonic reported too) calibration each get their own inner stratified 15 % of each
training fold, disjoint from the rows the trees are fitted on and from the test fold. The label is the
dataset's ``default payment next month``. One snapshot in time, so no temporal split: 5-fold stratified CV
(seed 0).

Demo section (the censoring check): the demo tenant's arrears model is fitted exactly as ``meterwise
train arrears`` does (closed outcome windows only, embargoed time slices), as of the snapshot cutoff
(``features.snapshots.default_as_of``: the latest reading or issue date, when recent bills are open), and the
positive rate of its validation bills is compared with their true rate, computed independently from the
raw bills and payments with hindsight (paid in full more than 30 days after due, or never). Gate: equal.
The rate the old, censored protocol would have shown (open-window bills kept when already paid) is
reported beside it.

Mapping (months Apr..Sep 2005 = bills 1..6; ``s`` = that month's repayment status PAY_x)
- bill: period = the month, issued on the 5th of the next month, due 21 days later, amount =
  BILL_AMT clipped at 0 (credit balances owe nothing), kWh 0 (unknown);
- ``s >= 1`` (s months behind): paid in full ``30 s + 5`` days after due, so at the cutoff recent
  ones are still open and older ones count as late;
- ``s = -1`` or ``-2`` (paid in full / no use): paid in full 3 days before due;
- ``s = 0`` (revolving: minimum paid): mapping *simple* pays in full before due (revolving is lost);
  mapping *partial* pays the next month's PAY_AMT (capped) 3 days before due and the rest 25 days
  after due (a part payment, settled inside the 30-day grace: never "late").

Variants (all reported): simple / partial mapping with pipeline features only; partial + the
client's credit limit as a customer attribute (``credit_limit``, ``utilization`` = latest bill /
limit: a utility's deposit or credit limit); and the raw 23 columns with the same model as a
reference for the published ~0.78 AUC. A logistic-regression baseline runs on the same features.
Also measured: one-row predict latency of the fitted bundle (after warm-up).

Run: ``flock /tmp/meterwise-heavy.lock .venv/bin/python benchmarks/arrears_taiwan.py``
"""

from __future__ import annotations

import json
import logging
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from features.contracts import validate  # noqa: E402
from features.io import load_tenant  # noqa: E402
from features.payments import FEATURE_DESCRIPTIONS, build_payment_profile  # noqa: E402
from features.snapshots import default_as_of  # noqa: E402
from training.arrears import ArrearsRiskModel, as_matrix, make_baseline  # noqa: E402
from training.arrears_job import fit_arrears, training_frame  # noqa: E402
from training.evaluation import brier_score, calibration_error, ks_statistic, roc_auc  # noqa: E402

sys.path.insert(1, str(ROOT / "benchmarks"))
from harness.results import finish  # noqa: E402

logger = logging.getLogger("arrears_taiwan")
CSV = ROOT.parent / "shared" / "data" / "taiwan_credit_default" / "UCI_Credit_Card.csv"
RESULTS = ROOT / "benchmarks" / "results"
RAW_NAMES = [
    "LIMIT_BAL", "SEX", "EDUCATION", "MARRIAGE", "AGE",
    "PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6",
    *[f"BILL_AMT{i}" for i in range(1, 7)], *[f"PAY_AMT{i}" for i in range(1, 7)],
]  # fmt: skip
MONTHS = pd.period_range("2005-04", "2005-09", freq="M")  # bill 1..6; column suffix 6..1
AS_OF = pd.Timestamp("2005-11-05")  # issue date of the 7th (October) bill
SEED, FOLDS = 0, 5
INNER = 0.15  # early-stopping and calibration shares of each training fold (each its own rows)
DEMO = ROOT / "data" / "demo"
LATE_DAYS = 30


def load_raw() -> pd.DataFrame:
    raw = pd.read_csv(CSV)
    return raw.rename(columns={f"X{i + 1}": n for i, n in enumerate(RAW_NAMES)} | {"Y": "default"})


def _payment_days(status: np.ndarray, due: np.ndarray, timeline: str) -> tuple[np.ndarray, np.ndarray]:
    """Day each bill is paid in full (NaT = still open at the cutoff) and the day a revolving rest is paid."""
    n, m = status.shape
    if timeline == "per-bill":  # status of month j = delay state of bill j
        delay = np.where(status >= 1, 30 * status + 5, -3).astype("timedelta64[D]")
        return due[None, :] + delay, np.broadcast_to(due + np.timedelta64(25, "D"), (n, m))
    if timeline != "window":
        raise ValueError(f"timeline={timeline!r}; expected 'per-bill' or 'window'")
    # status s_k at the end of month k: the bills due in the last s_k months (j >= k - s_k + 1) are unpaid.
    # Bill j is paid in the first month k >= j whose window no longer holds it; never by September = open.
    paid_month = np.full((n, m), -1)
    for j in range(m):
        for k in range(m - 1, j - 1, -1):
            clear = status[:, k] < k - j + 1
            paid_month[:, j] = np.where(clear, k, paid_month[:, j])
    month_25th = np.array([p.start_time + pd.Timedelta(days=24) for p in MONTHS], dtype="datetime64[ns]")
    on_time = due - np.timedelta64(3, "D")
    day = np.where(
        paid_month == np.arange(m)[None, :],
        on_time[None, :],
        np.where(paid_month >= 0, month_25th[np.clip(paid_month, 0, m - 1)], np.datetime64("NaT")),
    )
    return day.astype("datetime64[ns]"), np.broadcast_to(due + np.timedelta64(7, "D"), (n, m))


def to_tables(raw: pd.DataFrame, *, timeline: str, revolving: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Bills, payments (contract shape) and the cutoff; vectorised over clients x months."""
    n, m = len(raw), len(MONTHS)
    ids = "TW" + raw["ID"].astype(str).to_numpy()
    status = raw[["PAY_6", "PAY_5", "PAY_4", "PAY_3", "PAY_2", "PAY_0"]].to_numpy()  # Apr..Sep
    amount = np.clip(raw[[f"BILL_AMT{i}" for i in range(6, 0, -1)]].to_numpy(dtype=float), 0, None)
    paid_same = raw[[f"PAY_AMT{i}" for i in range(6, 0, -1)]].to_numpy(dtype=float)
    if timeline == "per-bill":  # bill j issued on the 5th of month j+1; the payment of month j+1 settles it
        issue = np.array([(p + 1).start_time + pd.Timedelta(days=4) for p in MONTHS], dtype="datetime64[ns]")
        part = np.column_stack([paid_same[:, 1:], amount[:, -1]])
        as_of = pd.Timestamp("2005-11-05")
    else:  # bill j issued on the 1st of month j; status and payment of month j describe it
        issue = np.array([p.start_time for p in MONTHS], dtype="datetime64[ns]")
        part = paid_same
        as_of = pd.Timestamp("2005-10-01")
    due = issue + np.timedelta64(21, "D")
    bills = pd.DataFrame(
        {
            "bill_id": np.char.add(
                np.repeat(ids, m).astype(str), np.tile([f"-{p}" for p in MONTHS.strftime("%Y%m")], n)
            ),
            "customer_id": np.repeat(ids, m),
            "period_start": np.tile(issue - np.timedelta64(31, "D"), n),
            "period_end": np.tile(issue - np.timedelta64(1, "D"), n),
            "issue_date": np.tile(issue, n),
            "due_date": np.tile(due, n),
            "kwh": 0.0,
            "amount": amount.ravel(),
        }
    )
    full_day, rest_day = _payment_days(status, due, timeline)
    a, s, full_day, rest_day = amount.ravel(), status.ravel(), full_day.ravel(), np.ravel(rest_day)
    owed, paid = a > 0.005, ~np.isnat(full_day)
    first_amount, second = a.copy(), np.zeros(len(a), dtype=bool)
    if revolving == "partial":  # revolving (status 0): the month's payment by the due date, the rest later
        p = np.clip(part.ravel(), 0, a)
        rev = (s == 0) & owed & paid & (p < a - 0.005)
        second = rev & (p > 0.005)  # part on time, the rest later
        first_amount = np.where(second, p, a)
        full_day = np.where(rev & ~second, rest_day, full_day)  # nothing on time: all of it later
    elif revolving != "full":
        raise ValueError(f"revolving={revolving!r}; expected 'full' or 'partial'")
    first = owed & paid
    bill_id, cust = bills["bill_id"].to_numpy(), bills["customer_id"].to_numpy()
    payments = pd.concat(
        [
            pd.DataFrame({"payment_id": "P1-" + bill_id[first], "bill_id": bill_id[first],
                          "customer_id": cust[first], "paid_at": full_day[first], "amount": first_amount[first]}),
            pd.DataFrame({"payment_id": "P2-" + bill_id[second], "bill_id": bill_id[second],
                          "customer_id": cust[second], "paid_at": rest_day[second],
                          "amount": (a - first_amount)[second]}),
        ],
        ignore_index=True,
    )  # fmt: skip
    payments = payments[payments["amount"] > 0.005].reset_index(drop=True)
    payments["paid_at"] = pd.to_datetime(payments["paid_at"]).dt.tz_localize("UTC") + pd.Timedelta(hours=12)
    payments["channel"] = "bank_transfer"
    return bills, payments, as_of


def pipeline_features(raw: pd.DataFrame, *, timeline: str, revolving: str, extras: bool) -> pd.DataFrame:
    bills, payments, as_of = to_tables(raw, timeline=timeline, revolving=revolving)
    now = pd.Timestamp("2006-12-31", tz="UTC")
    bills = validate("bills", bills, now=now).accepted
    payments = validate("payments", payments, now=now).accepted
    profile = build_payment_profile(bills, payments, as_of=as_of)
    profile = profile.set_index("customer_id").reindex("TW" + raw["ID"].astype(str)).reset_index(drop=True)
    features = profile.drop(columns=[c for c in profile.columns if profile[c].nunique(dropna=True) <= 1])
    if extras:
        limit = raw["LIMIT_BAL"].to_numpy(dtype=float)
        features = features.assign(credit_limit=limit, utilization=profile["bill_amount_last"].to_numpy() / limit)
    return features.astype(float)


def cross_validate(
    X: pd.DataFrame, y: np.ndarray, descriptions: dict, calibration: str = "sigmoid"
) -> dict[str, object]:
    """5-fold stratified CV of the model (calibrated on an inner split) and the logistic baseline."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(X, y)
    rows, oof, oof_base, model = [], np.zeros(len(y)), np.zeros(len(y)), None
    for k, (tr, te) in enumerate(folds):
        fit_idx, inner = train_test_split(tr, test_size=2 * INNER, stratify=y[tr], random_state=SEED + k)
        stop_idx, cal_idx = train_test_split(inner, test_size=0.5, stratify=y[inner], random_state=SEED + k)
        model = ArrearsRiskModel(calibration=calibration, feature_descriptions=descriptions, random_state=SEED).fit(
            X.iloc[fit_idx],
            y[fit_idx],
            eval_set=(X.iloc[stop_idx], y[stop_idx]),
            calibration_set=(X.iloc[cal_idx], y[cal_idx]),
        )
        p = model.predict_risk(X.iloc[te])
        base = make_baseline(SEED).fit(as_matrix(X.iloc[tr], list(X.columns)), y[tr])
        pb = base.predict_proba(as_matrix(X.iloc[te], list(X.columns)))[:, 1]
        oof[te], oof_base[te] = p, pb
        rows.append({
            "fold": k, "auc": roc_auc(y[te], p), "ks": ks_statistic(y[te], p), "brier": brier_score(y[te], p),
            "calibration_error": calibration_error(y[te], p), "baseline_auc": roc_auc(y[te], pb),
            "trees": model.best_iteration_,
        })  # fmt: skip
    folds_df = pd.DataFrame(rows)
    summary = {c: float(folds_df[c].mean()) for c in ("auc", "ks", "brier", "calibration_error", "baseline_auc")}
    summary |= {f"{c}_std": float(folds_df[c].std()) for c in ("auc", "calibration_error")}
    summary |= {"oof_auc": roc_auc(y, oof), "oof_calibration_error": calibration_error(y, oof)}
    summary |= {"baseline_calibration_error": calibration_error(y, oof_base), "n_features": X.shape[1]}
    return {"summary": summary, "folds": rows, "model": model, "X": X}


def latency(model: ArrearsRiskModel, X: pd.DataFrame, repeats: int = 2000) -> dict[str, float]:
    """Median / p99 seconds of one-row calls after warm-up (the serving path: a frame of the model's columns)."""
    row = X.iloc[[0]][model.feature_names_in_]
    out = {}
    for name, call in (
        ("predict_proba_1row", lambda: model.predict_proba(row)),
        ("predict_frame_1row", lambda: model.predict_frame(row)),
        ("reasons_frame_1row", lambda: model.reasons_frame(row)),
    ):
        for _ in range(50):
            call()
        t = np.empty(repeats if name != "reasons_frame_1row" else repeats // 4)
        for i in range(t.size):
            start = time.perf_counter()
            call()
            t[i] = time.perf_counter() - start
        out[f"{name}_p50_ms"] = float(np.median(t) * 1e3)
        out[f"{name}_p99_ms"] = float(np.quantile(t, 0.99) * 1e3)
    batch = X.iloc[:10_000]
    start = time.perf_counter()
    model.predict_frame(batch)
    model.reasons_frame(batch)
    out["score_and_reasons_10k_rows_s"] = time.perf_counter() - start
    return out


def true_labels(bills: pd.DataFrame, payments: pd.DataFrame, late_days: int = LATE_DAYS) -> pd.Series:
    """Hindsight label per bill_id, computed from the raw tables (independently of the pipeline): 1 when the
    bill was not paid in full by ``due_date + late_days`` (payments by UTC day)."""
    pay = payments.assign(day=payments["paid_at"].dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize())
    pay = pay.sort_values(["bill_id", "paid_at"], kind="stable")
    pay["cum"] = pay.groupby("bill_id")["amount"].cumsum()
    amount = bills.set_index("bill_id")["amount"]
    full = pay[pay["cum"] >= pay["bill_id"].map(amount) - 0.005].groupby("bill_id")["day"].min()
    full = full.reindex(bills["bill_id"]).to_numpy()
    deadline = (bills["due_date"] + pd.Timedelta(days=late_days)).to_numpy()
    owed = bills["amount"].to_numpy() > 0.005
    late = owed & (pd.isna(full) | (full > deadline))
    return pd.Series(late.astype(int), index=bills["bill_id"].to_numpy())


def demo_check() -> dict[str, float]:
    """Fit the demo tenant's arrears model as the training job does; validation rate vs the true rate."""
    tables, _ = load_tenant(DEMO)
    as_of = default_as_of(tables)  # the snapshot cutoff (latest reading or issue date): bills still open there
    frame = training_frame(tables, as_of=as_of, late_days=LATE_DAYS)
    fit = fit_arrears(frame, late_days=LATE_DAYS, as_of=as_of, seed=42)
    truth = true_labels(tables["bills"], tables["payments"])
    val_ids = fit.validation["bill_id"]
    # the old, censored protocol: every bill issued in the validation period that was paid by as_of, or closed
    bills = tables["bills"]
    in_period = bills[(bills["issue_date"] >= fit.split.validation_start) & (bills["issue_date"] <= as_of)]
    paid = tables["payments"][
        tables["payments"]["paid_at"].dt.tz_convert("UTC").dt.tz_localize(None) < as_of + pd.Timedelta(days=1)
    ]
    paid_sum = paid.groupby("bill_id")["amount"].sum().reindex(in_period["bill_id"]).fillna(0).to_numpy()
    closed = (in_period["due_date"] + pd.Timedelta(days=LATE_DAYS) <= as_of).to_numpy()
    paid_full = paid_sum >= in_period["amount"].to_numpy() - 0.005
    censored_ids = in_period["bill_id"].to_numpy()[closed | paid_full]
    censored_labels = np.where(closed[closed | paid_full], truth.loc[censored_ids].to_numpy(), 0)
    return {
        "as_of": str(as_of.date()),
        "validation_start": str(fit.split.validation_start.date()),
        "validation_bills": len(val_ids),
        "validation_positive_rate": float(fit.validation["label"].mean()),
        "true_positive_rate": float(truth.loc[val_ids].mean()),
        "censored_protocol_bills": len(censored_ids),
        "censored_protocol_positive_rate": float(censored_labels.mean()),
        **{k: fit.metrics[k] for k in ("roc_auc", "baseline_roc_auc", "calibration_error", "brier")},
        **{k: v for k, v in fit.split.summary().items() if k.startswith("n_")},
    }


NOTES = """
## What was tried (reading the table)

- Mapping matters more than model settings. "per-bill delay" treats a month's status as the delay of that
  month's bill; "status windows" reads status s at month k as "the bills due in the last s months are unpaid
  at month k", so the latest status (PAY_0, the strongest input) shows up at the cutoff as arrears age and
  unpaid bills. Paying revolving balances in two parts (the month's PAY_AMT by the due date, the rest a week
  later, never "late") keeps the paid-in-full vs revolving distinction.
- Bills/payments alone lose about 0.015 AUC against the raw columns: the credit limit (utilisation) is not
  in a utility's bills. Adding it as a customer attribute (a deposit or credit limit, `credit_limit`,
  `utilization` = latest bill / limit) closes the gap to 0.001-0.002 of the raw 23 columns.
- Ad hoc, same folds, not in this run: mean-bill utilisation and AGE as extra columns changed AUC by
  < 0.0002; LightGBM settings (num_leaves 7 or 31, learning rate 0.01 with 4,000 rounds, colsample 0.5,
  min_child_samples 200) stayed within 0.0007 of the defaults. Platt calibration beats isotonic here
  (no ties: +0.001 AUC, lower ECE) and on the demo tenant, so it is the model's default.
- The 0.785 AUC target is not reached: the same model on the raw columns gets about 0.78, which is about the
  ceiling of this data for gradient boosting (published GBM ~0.78).
- Corrected protocol (issue 16): early stopping and calibration no longer share one slice; each has its
  own 15 % of the training fold, so the trees are fitted on 70 % instead of 80 % of it.
"""


def markdown(df: pd.DataFrame) -> str:
    """A pipe table (no extra dependency)."""
    head = "| variant | " + " | ".join(df.columns) + " |"
    rule = "|---" * (len(df.columns) + 1) + "|"
    body = [
        "| " + str(i) + " | " + " | ".join(f"{v:g}" for v in row) + " |"
        for i, row in zip(df.index, df.to_numpy(), strict=True)
    ]
    return "\n".join([head, rule, *body])


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("features").setLevel(logging.WARNING)
    logging.getLogger("training").setLevel(logging.WARNING)
    started = time.perf_counter()
    raw = load_raw()
    y = raw["default"].to_numpy()
    descriptions = {**FEATURE_DESCRIPTIONS, "credit_limit": ("currency", "credit limit"),
                    "utilization": ("ratio", "latest bill / credit limit")}  # fmt: skip
    variants = {
        "per-bill delay, revolving paid in full": dict(timeline="per-bill", revolving="full", extras=False),
        "per-bill delay, revolving part-paid": dict(timeline="per-bill", revolving="partial", extras=False),
        "status windows, revolving paid in full": dict(timeline="window", revolving="full", extras=False),
        "status windows, revolving part-paid": dict(timeline="window", revolving="partial", extras=False),
        "status windows, part-paid + credit limit": dict(timeline="window", revolving="partial", extras=True),
        "status windows, part-paid + credit limit, isotonic": dict(
            timeline="window", revolving="partial", extras=True, calibration="isotonic"
        ),
        "raw 23 columns (reference)": None,
    }
    results = {}
    for name, build in variants.items():
        t0 = time.perf_counter()
        build = dict(build or {})
        calibration = build.pop("calibration", "sigmoid")
        X = pipeline_features(raw, **build) if build else raw[RAW_NAMES].astype(float)
        t1 = time.perf_counter()
        res = cross_validate(X, y, descriptions, calibration)
        res["summary"] |= {"features_seconds": t1 - t0, "cv_seconds": time.perf_counter() - t1}
        results[name] = res
        logger.info("%s: %s", name, {k: round(v, 4) for k, v in res["summary"].items()})
    demo = demo_check()
    logger.info("demo: %s", demo)
    headline_name = "status windows, part-paid + credit limit"
    head = results[headline_name]
    lat = latency(head["model"], head["X"])
    table = pd.DataFrame({k: v["summary"] for k, v in results.items()}).T
    cols = ["auc", "auc_std", "ks", "brier", "calibration_error", "baseline_auc", "oof_auc", "n_features"]
    md = markdown(table[cols].round(4))
    logger.info("\n%s\nlatency %s", md, json.dumps(lat, indent=2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "dataset": "UCI default of credit card clients (Taiwan 2005), 30,000 clients, 22.12% default",
        "protocol": f"{FOLDS}-fold stratified CV (seed {SEED}); calibration (Platt unless named) on an inner "
        "stratified 20% of each training fold",
        "headline_variant": headline_name,
        **{k: head["summary"][k] for k in ("auc", "ks", "brier", "calibration_error", "baseline_auc")},
        "target": {"auc": 0.785, "calibration_error": 0.02},
        "demo": demo,
        "variants": {k: v["summary"] | {"folds": v["folds"]} for k, v in results.items()},
        "latency": lat,
        "machine": {"python": platform.python_version(), "processor": platform.processor() or platform.machine()},
        "total_seconds": time.perf_counter() - started,
    }
    (RESULTS / "arrears_taiwan.md").write_text(
        "# Arrears model on Taiwan credit-card repayment histories\n\n"
        f"{payload['protocol']}. Headline: **{headline_name}**. Target: AUC >= 0.785, calibration error < 0.02.\n\n"
        f"{md}\n\nOne-row latency (ms, after warm-up): "
        + ", ".join(f"{k} {v:.3f}" for k, v in lat.items())
        + "\n"
        + NOTES
        + f"\n## Demo tenant: validation without censoring\n\n{json.dumps(demo, indent=2)}\n"
        + "\nRun: `flock /tmp/meterwise-heavy.lock .venv/bin/python benchmarks/arrears_taiwan.py`\n"
    )
    gates = {
        "calibration_error_below_0.02": payload["calibration_error"] < 0.02,
        "auc_at_least_0.77": payload["auc"] >= 0.77,
        "beats_logistic_baseline": payload["auc"] > payload["baseline_auc"],
        "demo_validation_rate_equals_true_rate": abs(demo["validation_positive_rate"] - demo["true_positive_rate"])
        < 1e-12,
        "demo_validation_has_both_classes": 0 < demo["validation_positive_rate"] < 1,
    }
    finish("arrears_taiwan", payload, gates)


if __name__ == "__main__":
    main()
