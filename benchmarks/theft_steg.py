"""Benchmark: theft risk on real STEG (Tunisia) billing and meter-reading history with inspection labels.

Data: ``../shared/data/steg_fraud_tunisia`` (27,100 clients, 899,241 invoices; fraud found by
inspection, 5.7 %, no date). Every invoice is mapped into the ``meter_reads`` contract (validated,
bad rows quarantined and counted), the *same* :func:`features.theft.build_theft_features` builds one
row per client (electricity reads, and gas reads under a ``gas_`` prefix), and the *same*
:class:`training.theft.TheftRiskModel` (LightGBM, settings by 3-fold inner CV, isotonic calibration on
the inner out-of-fold scores) is compared with a logistic-regression baseline on the same features.

Mapping (documented, the same for every STEG client; nothing tuned to this data set)
- ``customer_id`` = ``client_id``; ``meter_id`` = ``counter_type:counter_number:counter_code``;
  ``read_date`` = ``invoice_date``; ``old_index``/``new_index`` as is; ``status`` = ``counter_statue``;
  ``remark`` = ``reading_remarque``; ``multiplier`` = ``counter_coefficient`` (0 -> 1: a coefficient of 0
  would bill nothing); ``billed_kwh`` = sum of ``consommation_level_1..4``; ``months`` = ``months_number``
  (clipped to 120); ``tariff`` = ``tarif_type``; ``meter_type`` = ``counter_type``. Repeated
  (client, meter, date) rows (0.5 %) keep the first: the contract requires one read per meter and day.
- customers: ``category`` = ``client_catg``, ``region`` = ``region`` (peers); static attributes
  ``district`` (``disrict``), ``client_catg``, ``region`` (codes) and ``tenure_days`` (cutoff -
  ``creation_date``) join the read features.

Protocols
- (a) the public peers' protocol: features from each client's whole history, 5-fold stratified CV by client.
- (b) honest in time: features from invoices *before* a cutoff only. The label has no date, so the cutoff
  is fixed by a rule, not searched: the first of the month on or before the 75th percentile of all
  invoice dates (2016-09-01 here): three quarters of the history is visible, the last quarter -- when
  inspections that found fraud change meters, indexes and bills -- is not. Clients with no read before
  the cutoff are left out. Same 5-fold CV by client.
- Revenue at capacity (protocol b): inspecting the top 5 % of clients ranked by expected recovered revenue
  (p x estimated stolen kWh x tariff) against the rule "largest consumption drop first"
  (``kwh_drop_365d``). A confirmed theft recovers its estimated stolen kWh x the tariff
  (:data:`TARIFF_PER_KWH`, illustrative; both rankings are valued the same way).
- ``--eval-dir DIR``: trains on all shared clients as in (a) and scores the clients in DIR
  (``clients.parquet`` + ``invoices_part*.parquet``): ``eval.auc``, ``eval.precision_at_5pct``, ``eval.clients``.

Run: ``flock /tmp/meterwise-heavy.lock .venv/bin/python benchmarks/theft_steg.py [--eval-dir DIR]``
"""

from __future__ import annotations

import argparse
import glob
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.results import finish  # noqa: E402

from features.contracts import validate  # noqa: E402
from features.theft import build_theft_features, estimate_stolen_kwh  # noqa: E402
from training.theft import TheftRiskModel, make_baseline  # noqa: E402
from training.theft_metrics import ranking_metrics, recovered_at_capacity, top_k  # noqa: E402

logger = logging.getLogger("theft_steg")
DATA = ROOT.parent / "shared" / "data" / "steg_fraud_tunisia"
SEED, FOLDS = 0, 5
CUTOFF_QUANTILE = 0.75
CAPACITY = 0.05  # share of clients inspected
TARIFF_PER_KWH = 0.2  # TND/kWh, illustrative
PEER_AUC = 0.82  # the public peers' figure on this share (issue 21)


def load(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``clients.parquet`` and all ``invoices_part*.parquet`` of a STEG folder."""
    clients = pd.read_parquet(folder / "clients.parquet")
    parts = sorted(glob.glob(str(folder / "invoices_part*.parquet")))
    if not parts:
        raise FileNotFoundError(f"{folder}: no invoices_part*.parquet")
    invoices = pd.concat(map(pd.read_parquet, parts), ignore_index=True)
    return clients, invoices


def to_contracts(clients: pd.DataFrame, invoices: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """STEG -> validated ``meter_reads`` and the customers' peer attributes (see the module's mapping)."""
    i = invoices
    reads = pd.DataFrame(
        {
            "customer_id": i["client_id"].astype(str),
            "meter_id": i["counter_type"].astype(str)
            + ":"
            + i["counter_number"].astype(str)
            + ":"
            + i["counter_code"].astype(str),
            "read_date": pd.to_datetime(i["invoice_date"]),
            "old_index": i["old_index"].astype(float),
            "new_index": i["new_index"].astype(float),
            "status": i["counter_statue"].astype(str),
            "remark": i["reading_remarque"].astype(str),
            "multiplier": i["counter_coefficient"].clip(lower=1).astype(float),
            "billed_kwh": i[[f"consommation_level_{k}" for k in range(1, 5)]].sum(axis=1).astype(float),
            "months": i["months_number"].clip(upper=120).astype(float),
            "tariff": i["tarif_type"].astype(str),
            "meter_type": i["counter_type"].astype(str),
        }
    )
    dup = reads.duplicated(["customer_id", "meter_id", "read_date"])
    checked = validate("meter_reads", reads.loc[~dup], quarantine=True, source="steg invoices")
    logger.info(
        "meter_reads: %d invoices, %d repeated dropped, %d quarantined", len(reads), dup.sum(), len(checked.rejected)
    )
    customers = pd.DataFrame(
        {
            "customer_id": clients["client_id"].astype(str),
            "category": clients["client_catg"].astype(str),
            "region": clients["region"].astype(str),
        }
    )
    return checked.accepted, customers


def client_features(
    clients: pd.DataFrame, reads: pd.DataFrame, customers: pd.DataFrame, as_of=None, codes=None
) -> pd.DataFrame:
    """One row per client with reads before `as_of`: electricity + ``gas_`` features + static attributes."""
    codes = codes or {}
    as_of = pd.Timestamp(reads["read_date"].max()) + pd.Timedelta(days=1) if as_of is None else pd.Timestamp(as_of)
    elec = build_theft_features(reads[reads["meter_type"] == "ELEC"], customers, as_of=as_of, **codes.get("elec", {}))
    gas = build_theft_features(reads[reads["meter_type"] == "GAZ"], customers, as_of=as_of, **codes.get("gas", {}))
    cutoff = as_of
    c = clients.set_index(clients["client_id"].astype(str))
    static = pd.DataFrame(
        {
            "district": c["disrict"].astype(float),
            "client_catg": c["client_catg"].astype(float),
            "region": c["region"].astype(float),
            "tenure_days": (cutoff - pd.to_datetime(c["creation_date"], format="%d/%m/%Y")).dt.days.astype(float),
        }
    )
    seen = elec.index.union(gas.index)
    return static.loc[static.index.isin(seen)].join(elec).join(gas.add_prefix("gas_"))


def _codes_of(X: pd.DataFrame) -> dict[str, dict[str, list[str]]]:
    """The status/remark codes the training features used, so scoring builds the same columns."""

    def pick(prefix: str, kind: str) -> list[str]:
        p = f"{prefix}{kind}_share_"
        return [c[len(p) :] for c in X.columns if c.startswith(p)]

    return {
        "elec": {"status_codes": pick("", "status"), "remark_codes": pick("", "remark")},
        "gas": {"status_codes": pick("gas_", "status"), "remark_codes": pick("gas_", "remark")},
    }


def cross_validate(X: pd.DataFrame, y: np.ndarray) -> dict[str, np.ndarray]:
    """Out-of-fold scores of the theft model and the baseline (5-fold stratified by client)."""
    from sklearn.model_selection import StratifiedKFold

    oof = {"lgbm": np.zeros(len(y)), "baseline": np.zeros(len(y))}
    for k, (train, test) in enumerate(StratifiedKFold(FOLDS, shuffle=True, random_state=SEED).split(X, y)):
        model = TheftRiskModel(random_state=SEED).fit(X.iloc[train], y[train])
        oof["lgbm"][test] = model.predict_proba(X.iloc[test])[:, 1]
        base = make_baseline(SEED).fit(X.iloc[train], y[train])
        oof["baseline"][test] = base.predict_proba(X.iloc[test])[:, 1]
        logger.info("fold %d: settings %s, inner AUC %.3f", k, model.params_, model.inner_auc_)
    return oof


def protocol(clients: pd.DataFrame, reads: pd.DataFrame, customers: pd.DataFrame, as_of=None) -> dict:
    t0 = time.perf_counter()
    X = client_features(clients, reads, customers, as_of=as_of)
    y = clients.set_index(clients["client_id"].astype(str))["target"].reindex(X.index).to_numpy(float)
    oof = cross_validate(X, y)
    out = {
        "clients": len(X),
        "features": X.shape[1],
        "lgbm": ranking_metrics(y, oof["lgbm"]),
        "baseline_logistic": ranking_metrics(y, oof["baseline"]),
    }
    value = estimate_stolen_kwh(X).to_numpy() * TARIFF_PER_KWH
    k = top_k(len(X), CAPACITY)
    model = recovered_at_capacity(y, oof["lgbm"] * value, value, k)
    rule = recovered_at_capacity(y, X["kwh_drop_365d"].to_numpy(), value, k)
    out["revenue_at_capacity"] = {
        "capacity": k,
        "tariff_per_kwh": TARIFF_PER_KWH,
        "model_expected_revenue": model,
        "largest_drop_first": rule,
        "ratio": model["recovered"] / rule["recovered"] if rule["recovered"] > 0 else float("inf"),
    }
    out["seconds"] = round(time.perf_counter() - t0, 1)
    logger.info(
        "as_of=%s: %d clients, AUC lgbm %.4f baseline %.4f",
        as_of,
        len(X),
        out["lgbm"]["auc"],
        out["baseline_logistic"]["auc"],
    )
    return out


def evaluate_outside(clients, reads, customers, eval_dir: Path) -> dict:
    """Train on all shared clients as in (a); score the clients in `eval_dir`."""
    X = client_features(clients, reads, customers)
    y = clients.set_index(clients["client_id"].astype(str))["target"].reindex(X.index).to_numpy(float)
    model = TheftRiskModel(random_state=SEED).fit(X, y)
    e_clients, e_invoices = load(eval_dir)
    e_reads, e_customers = to_contracts(e_clients, e_invoices)
    Xe = client_features(e_clients, e_reads, e_customers, codes=_codes_of(X))
    p = model.predict_proba(Xe)[:, 1]
    out = {"clients": len(Xe), "clients_in_dir": len(e_clients), "settings": model.params_}
    if "target" in e_clients.columns:
        ye = e_clients.set_index(e_clients["client_id"].astype(str))["target"].reindex(Xe.index).to_numpy(float)
        m = ranking_metrics(ye, p)
        out |= {"auc": m["auc"], "precision_at_5pct": m["precision_at_5pct"], "metrics": m}
    return out


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--eval-dir", type=Path, default=None, help="score unseen STEG clients in this folder")
    args.add_argument("--data", type=Path, default=DATA, help="the shared STEG folder")
    args.add_argument("--out", type=Path, default=None, help="JSON path (default benchmarks/results/theft_steg.json)")
    args.add_argument("--eval-only", action="store_true", help="with --eval-dir: skip protocols (a) and (b)")
    opts = args.parse_args(argv)
    t0 = time.perf_counter()
    clients, invoices = load(opts.data)
    reads, customers = to_contracts(clients, invoices)
    dates = pd.to_datetime(invoices["invoice_date"])
    cutoff = dates.quantile(CUTOFF_QUANTILE).to_period("M").to_timestamp()
    result: dict = {"data": str(opts.data), "invoices": len(invoices), "reads_accepted": len(reads)}
    gates: dict[str, bool] = {}
    if not opts.eval_only:
        result["a_whole_history_cv"] = a = protocol(clients, reads, customers)
        result["b_before_cutoff_cv"] = b = {
            "cutoff": str(cutoff.date()),
            "rule": f"first of the month of the {CUTOFF_QUANTILE:.0%} quantile of invoice dates",
            **protocol(clients, reads, customers, as_of=cutoff),
        }
        gates |= {
            "a_auc_beats_public_peer_0.82": a["lgbm"]["auc"] > PEER_AUC,
            "a_lgbm_beats_baseline": a["lgbm"]["auc"] > a["baseline_logistic"]["auc"],
            "b_lgbm_beats_baseline": b["lgbm"]["auc"] > b["baseline_logistic"]["auc"],
            "b_calibration_error_below_0.02": b["lgbm"]["calibration_error"] < 0.02,
            "b_revenue_beats_largest_drop_first": b["revenue_at_capacity"]["ratio"] > 1.0,
        }
    if opts.eval_dir is not None:
        result["eval"] = evaluate_outside(clients, reads, customers, opts.eval_dir)
        if "auc" in result["eval"]:
            gates["eval_auc_at_least_0.85"] = result["eval"]["auc"] >= 0.85
    result["seconds"] = round(time.perf_counter() - t0, 1)
    finish("theft_steg", result, gates, path=opts.out)


if __name__ == "__main__":
    main()
