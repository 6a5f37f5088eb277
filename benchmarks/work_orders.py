"""Benchmark: work-order classification and emerging topics on real Chinese citizen complaints (TipDM 2020 C).

Run as ``flock /tmp/meterwise-heavy.lock /work/main/.venv/bin/python benchmarks/work_orders.py`` (a few minutes on
2 cores). Data: ``../shared/data/citizen_messages_tipdm2020_cn`` (see its SOURCE.md; internal evaluation only).

1. 5-fold stratified macro-F1 on the 9,210 labelled (tokenised) messages, with the word TF-IDF + LinearSVC
   baseline on the same folds and tokens (bar: above 0.92 and above the baseline);
2. time split on the 1,378 raw dated labelled messages: train before the cut, score the newest 20 %;
3. classify throughput: ``predict_frame`` (jieba + features + calibrated SVM + keywords) on the 4,326 raw
   messages of 附件3, model trained on the 1,378 raw labelled ones;
4. emerging topics on the dated 2019 messages of 附件3 (weekly, 8-week trailing window, BH at 1 %): a topic
   (:data:`PLANT_TEXT`) is appended to :data:`PLANT_N` messages of :data:`PLANT_WEEK`; it must be flagged that
   week and no other. False alarms: the same test on the messages with their dates shuffled (no trend by
   construction), :data:`NULL_RUNS` times, weekly and monthly; the share of periods with any flag.
5. informational, no gate: do complaint features help the arrears model? On the demo tenant (whose work orders
   are generated from templates, see data/demo/SOURCE.md), the per-bill training set with and without the
   complaint features as of each bill's issue date; gradient boosting, time split (newest 30 % of bills), AUC.
"""

from __future__ import annotations

import logging
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the packages before benchmarks/ (a sibling benchmarks/features.py shadows one)
sys.modules.pop("features", None)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from harness.results import finish  # noqa: E402

from features.work_orders_text import Tokenizer  # noqa: E402
from training.work_orders import ComplaintClassifier  # noqa: E402
from training.work_orders_eval import evaluate_corpus, time_split  # noqa: E402
from training.work_orders_trends import emerging_terms, periodic_counts  # noqa: E402

logger = logging.getLogger("benchmarks.work_orders")
DATA = ROOT.parent / "shared" / "data" / "citizen_messages_tipdm2020_cn"
SEED = 0
PLANT_WEEK = pd.Timestamp("2019-07-15")  # a Monday
PLANT_TEXT = "小区频繁停电，空调无法使用"
PLANT_TERM = "停电"
PLANT_N = 12
NULL_RUNS = 5
WINDOWS = {"week": 8, "month": 3}
ALPHA, MIN_COUNT = 0.01, 5


def raw_text(frame: pd.DataFrame, title: str, detail: str) -> pd.Series:
    return frame[title].fillna("").astype(str) + " " + frame[detail].fillna("").astype(str).str.strip()


def classification() -> dict:
    tok = pd.read_excel(DATA / "att2_full9210_tokenised.xlsx", header=None, names=["text", "label"])
    t0 = time.perf_counter()
    cv = evaluate_corpus(tok["text"].astype(str), tok["label"].astype(str), folds=5, random_state=SEED)
    cv["seconds"] = round(time.perf_counter() - t0, 1)
    cv.pop("confusion_matrix")
    raw = pd.read_csv(DATA / "att2_raw_labelled_union1378.csv")
    texts = raw_text(raw, "title", "detail")
    model = ComplaintClassifier(random_state=SEED)
    docs = model.tokenize(texts)
    split = time_split(docs, raw["label"].astype(str).to_numpy(), raw["time"],
                       lambda: ComplaintClassifier(random_state=SEED), test_share=0.2)  # fmt: skip
    return {"cv_9210": cv, "time_split_1378": split, "raw": (texts, raw["label"].astype(str))}


def throughput(texts: pd.Series, labels: pd.Series, messages: pd.Series) -> dict:
    model = ComplaintClassifier(random_state=SEED).fit(texts, labels)
    frame = pd.DataFrame({"text": messages.to_numpy()})
    t0 = time.perf_counter()
    pred = model.predict_frame(frame)
    seconds = time.perf_counter() - t0
    return {
        "orders": len(frame),
        "seconds": round(seconds, 2),
        "orders_per_s": len(frame) / seconds,
        "mean_chars": float(frame["text"].str.len().mean()),
        "unsure_share": float(pred["unsure"].mean()),
        "includes": "jieba tokenisation, TF-IDF, SVM, calibration, keywords (one process, 1 thread)",
    }


def _flags(docs: list[str], when: pd.Series, freq: str) -> pd.DataFrame:
    counts, totals = periodic_counts(docs, when, freq)
    return emerging_terms(counts, totals, window=WINDOWS[freq], alpha=ALPHA, min_count=MIN_COUNT)


def emerging(a3: pd.DataFrame) -> dict:
    rng = np.random.default_rng(SEED)
    when = pd.to_datetime(a3["留言时间"].astype(str).str.strip(), format="mixed")
    keep = (when.dt.year == 2019).to_numpy()
    a3, when = a3.loc[keep].reset_index(drop=True), when[keep].reset_index(drop=True)
    texts = raw_text(a3, "留言主题", "留言详情")
    in_week = np.flatnonzero(((when >= PLANT_WEEK) & (when < PLANT_WEEK + pd.Timedelta(days=7))).to_numpy())
    chosen = rng.choice(in_week, size=PLANT_N, replace=False)
    planted = texts.copy()
    planted.iloc[chosen] = planted.iloc[chosen] + " " + PLANT_TEXT
    tokenizer = Tokenizer()
    docs = tokenizer.join(planted)
    week = _flags(docs, when, "week")
    flagged = week[week["emerging"]]
    tested_weeks = week["period"].nunique()
    plant_hits = flagged[flagged["term"] == PLANT_TERM]
    other = flagged[flagged["period"] != PLANT_WEEK]
    base_rate = float(week.loc[(week["term"] == PLANT_TERM) & (week["period"] != PLANT_WEEK), "share"].mean())
    nulls = {"week": [], "month": []}
    for run in range(NULL_RUNS):
        shuffled = pd.Series(when.to_numpy()[np.random.default_rng(run + 1).permutation(len(when))])
        for freq in nulls:
            res = _flags(docs, shuffled, freq)
            per = res.groupby("period")["emerging"].any()
            nulls[freq].append({"periods": len(per), "with_flag": int(per.sum()), "flags": int(res["emerging"].sum()),
                                "tests": len(res)})  # fmt: skip
    summary = {
        freq: {
            "periods_tested": sum(r["periods"] for r in runs),
            "periods_with_false_alarm": sum(r["with_flag"] for r in runs),
            "false_alarm_rate_per_period": sum(r["with_flag"] for r in runs) / max(sum(r["periods"] for r in runs), 1),
            "false_flags_per_test": sum(r["flags"] for r in runs) / max(sum(r["tests"] for r in runs), 1),
        }
        for freq, runs in nulls.items()
    }
    month = _flags(tokenizer.join(texts), when, "month")
    return {
        "messages_2019": len(texts),
        "test": "conditional binomial (two Poisson rates) vs trailing window, BH per period",
        "alpha": ALPHA, "min_count": MIN_COUNT, "min_ratio": 2.0, "windows": WINDOWS,
        "planted": {"week": str(PLANT_WEEK.date()), "text": PLANT_TEXT, "term": PLANT_TERM, "messages": PLANT_N,
                    "orders_that_week": len(in_week), "term_share_other_weeks": base_rate},
        "planted_flagged_that_week": bool((plant_hits["period"] == PLANT_WEEK).any()),
        "planted_term_flagged_other_weeks": int((plant_hits["period"] != PLANT_WEEK).sum()),
        "planted_week_flags": flagged.loc[flagged["period"] == PLANT_WEEK, "term"].tolist(),
        "real_data_weeks_tested": int(tested_weeks),
        "real_data_weeks_flagged_unplanted": int(other["period"].nunique()),
        "real_data_flags_unplanted": other.head(20)[["period", "term", "count", "orders", "ratio", "q_value"]]
        .astype({"period": str}).to_dict("records"),
        "real_data_months_flagged": month.loc[month["emerging"], "period"].astype(str).unique().tolist(),
        "shuffled_dates_null": summary,
    }  # fmt: skip


def arrears_with_complaints() -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    from features.io import load_tenant
    from features.settings import DEMO_DIR
    from features.training_sets import build_arrears_training_set
    from features.work_orders_profile import complaint_features_at, feature_descriptions
    from training.arrears import feature_columns

    tables, _ = load_tenant(DEMO_DIR)
    bills = build_arrears_training_set(tables)
    bills = bills[bills["label_known"]].reset_index(drop=True)
    added = [c for c in feature_descriptions() if c != "top_category"]
    extra = complaint_features_at(tables["work_orders"], bills[["customer_id"]].assign(cutoff=bills["issue_date"]))
    frame = pd.concat([bills, extra[added]], axis=1)
    base = [c for c in feature_columns(bills) if c not in ("category", "tariff")]
    train = (frame["issue_date"] < frame["issue_date"].quantile(0.7)).to_numpy()
    out = {"data": "demo tenant (generated work orders)", "bills_train": int(train.sum()),
           "bills_test": int((~train).sum()), "model": "HistGradientBoosting(max_iter=200, lr=0.05)"}  # fmt: skip
    for name, cols in (("auc_without_complaints", base), ("auc_with_complaints", [*base, *added])):
        X = frame[cols].astype(float)
        model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=SEED)
        model.fit(X[train], frame.loc[train, "label"])
        out[name] = float(roc_auc_score(frame.loc[~train, "label"], model.predict_proba(X[~train])[:, 1]))
    out["complaints_help"] = out["auc_with_complaints"] > out["auc_without_complaints"]
    return out


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    t0 = time.perf_counter()
    cls = classification()
    texts, labels = cls.pop("raw")
    a3 = pd.read_excel(DATA / "att3_full4326_unlabelled.xlsx")
    speed = throughput(texts, labels, raw_text(a3, "留言主题", "留言详情"))
    trends = emerging(a3)
    cv, ts = cls["cv_9210"], cls["time_split_1378"]
    result = {
        "data": str(DATA.relative_to(ROOT.parent)),
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
        "classifier": "word(1,2)+char_wb(1,3) TF-IDF, LinearSVC with C from inner 3-fold CV, logistic calibration",
        "cv_macro_f1": cv["macro_f1"],
        "cv_baseline_macro_f1": cv["baseline"]["macro_f1"],
        "cv_accuracy": cv["accuracy"],
        "time_split_macro_f1": ts.get("macro_f1"),
        "time_split_baseline_macro_f1": ts.get("baseline_macro_f1"),
        "classify_orders_per_s": speed["orders_per_s"],
        **cls,
        "throughput": speed,
        "emerging_topics": trends,
        "arrears_with_complaints": arrears_with_complaints(),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    null = trends["shuffled_dates_null"]
    gates = {
        "cv_macro_f1_above_0.92": cv["macro_f1"] > 0.92,
        "cv_beats_baseline_same_folds": cv["macro_f1"] > cv["baseline"]["macro_f1"],
        "time_split_beats_baseline": (ts.get("macro_f1") or 0) > (ts.get("baseline_macro_f1") or 1),
        "planted_topic_flagged_in_its_week": trends["planted_flagged_that_week"],
        "planted_term_not_flagged_elsewhere": trends["planted_term_flagged_other_weeks"] == 0,
        "weekly_false_alarm_rate_below_0.05": null["week"]["false_alarm_rate_per_period"] < 0.05,
        "monthly_false_alarm_rate_below_0.05": null["month"]["false_alarm_rate_per_period"] < 0.05,
        "throughput_above_50_orders_per_s": speed["orders_per_s"] > 50,
    }
    finish("work_orders", result, gates)


if __name__ == "__main__":
    main()
