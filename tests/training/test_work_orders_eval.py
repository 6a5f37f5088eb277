"""evaluate_corpus and `meterwise work-orders evaluate`: folds, baseline on the same folds, time split."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tests.training.test_work_orders import corpus
from training.cli.work_orders import app
from training.work_orders import ComplaintClassifier
from training.work_orders_eval import evaluate_corpus


def small() -> ComplaintClassifier:
    return ComplaintClassifier(Cs=(1.0,), min_df=1, inner_folds=2)


def test_cv_and_time_split_report_model_and_baseline():
    texts, labels = corpus(60)
    when = pd.Series(pd.date_range("2024-01-01", periods=60, freq="D", tz="UTC"))
    out = evaluate_corpus(pd.Series(texts), pd.Series(labels), when, folds=3, model_factory=small)
    assert len(out["folds"]) == 3 and {"macro_f1", "baseline_macro_f1"} <= set(out["folds"][0])
    assert 0.8 < out["macro_f1"] <= 1.0 and 0.0 <= out["baseline"]["macro_f1"] <= 1.0
    assert np.array(out["confusion_matrix"]).sum() == 60 and out["labels"] == ["billing", "meter", "outage"]
    ts = out["time_split"]
    assert ts["n_train"] == 48 and ts["n_test"] == 12 and ts["cut"].startswith("2024-02-18")


def test_too_few_orders_per_category_is_refused():
    with pytest.raises(ValueError, match=r"at least|>= 2"):
        evaluate_corpus(pd.Series(["a b", "c d", "e f"]), pd.Series(["x", "x", "y"]))


def test_cli_writes_evaluation_json(tmp_path, monkeypatch):
    texts, labels = corpus(45)
    path = tmp_path / "export.csv"
    pd.DataFrame({"body": texts, "cat": labels, "when": pd.date_range("2024-01-01", periods=45).astype(str)}).to_csv(
        path, index=False
    )
    monkeypatch.setattr("training.work_orders_eval.ComplaintClassifier", lambda random_state=0: small())
    result = CliRunner().invoke(
        app,
        ["evaluate", "--input", str(path), "--text-col", "body", "--label-col", "cat", "--date-col", "when",
         "--out", str(tmp_path / "out"), "--folds", "3"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    assert {"macro_f1", "accuracy", "folds", "baseline", "confusion_matrix", "time_split"} <= set(doc)


def test_cli_names_a_missing_column(tmp_path):
    path = tmp_path / "export.csv"
    pd.DataFrame({"body": ["a"], "cat": ["x"]}).to_csv(path, index=False)
    result = CliRunner().invoke(app, ["evaluate", "--input", str(path), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0 and "text" in str(result.exception)


def test_rare_and_single_order_categories_do_not_break_the_evaluation():
    texts, labels = corpus(45)
    texts += ["a rare complaint about the smell of smoke", "another rare smell of smoke", "one of a kind"]
    labels += ["smell", "smell", "unique"]
    out = evaluate_corpus(pd.Series(texts), pd.Series(labels), folds=3, model_factory=small)
    assert out["categories_left_out"] == {"unique": 1} and "smell" in out["labels"]
    assert out["n_orders"] == 47 and len(out["folds"]) == 3
