"""ComplaintClassifier: learns the tenant's categories, calibrated probabilities, 'unsure', keywords."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from training.work_orders import UNSURE, BaselineClassifier, ComplaintClassifier

TOPICS = {
    "billing": ["bill", "charge", "tariff", "invoice", "price", "overcharged"],
    "outage": ["power", "cut", "blackout", "outage", "dark", "supply"],
    "meter": ["meter", "reading", "display", "digits", "counter", "register"],
}
FILLER = ["please", "help", "today", "again", "house", "my", "the", "since"]


def corpus(n: int = 90, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    labels = [list(TOPICS)[i % 3] for i in range(n)]
    texts = [" ".join(rng.choice(TOPICS[y], 3).tolist() + rng.choice(FILLER, 4).tolist()) for y in labels]
    return texts, labels


@pytest.fixture(scope="module")
def fitted() -> ComplaintClassifier:
    texts, labels = corpus()
    return ComplaintClassifier(Cs=(0.3, 1.0), min_df=1).fit(texts, labels)


def test_learns_the_tenants_categories(fitted):
    assert list(fitted.classes_) == ["billing", "meter", "outage"]
    assert fitted.C_ in (0.3, 1.0) and set(fitted.cv_scores_) == {0.3, 1.0}
    texts, labels = corpus(30, seed=1)
    assert (fitted.predict(texts) == np.array(labels)).mean() > 0.9


def test_probabilities_are_calibrated_rows(fitted):
    p = fitted.predict_proba(["power cut since today", "my bill tariff"])
    assert p.shape == (2, 3) and np.allclose(p.sum(axis=1), 1.0)
    assert fitted.classes_[p.argmax(axis=1)].tolist() == ["outage", "billing"]


def test_unsure_below_the_threshold(fitted):
    frame = pd.DataFrame({"text": ["blackout power cut outage", "please help today again"]})
    pred = fitted.predict_frame(frame)
    assert pred.loc[0, "category"] == "outage" and not pred.loc[0, "unsure"]
    assert pred.loc[1, "probability"] < pred.loc[0, "probability"]
    strict = clone(fitted).set_params(unsure_below=float(pred["probability"].max()) + 1e-9)
    strict.__dict__.update({k: v for k, v in fitted.__dict__.items() if k.endswith("_")})
    out = strict.predict_frame(frame)
    assert (out["category"] == UNSURE).all() and out["unsure"].all()
    assert out["best_guess"].tolist() == pred["best_guess"].tolist()  # the guess is kept


def test_unsure_path_can_be_switched_off(fitted):
    lax = clone(fitted).set_params(unsure_below=0.0)
    lax.__dict__.update({k: v for k, v in fitted.__dict__.items() if k.endswith("_")})
    assert (lax.predict_frame(pd.DataFrame({"text": ["please help today"]}))["category"] != UNSURE).all()


def test_keywords_come_from_the_text_and_back_the_label(fitted):
    pred = fitted.predict_frame(pd.DataFrame({"text": ["the meter display shows wrong digits", "please"]}))
    words = pred.loc[0, "keywords"].split("; ")
    assert words and set(words) <= {"meter", "display", "digits", "shows", "wrong", "the", "meter display",
                                     "display shows", "shows wrong", "wrong digits", "the meter"}  # fmt: skip
    assert "meter" in words or "display" in words or "digits" in words


def test_chinese_categories_are_learned_from_data():
    texts = ["小区停电三天", "突然停电了", "停电抢修太慢", "电费太高", "电费扣错了", "电费账单不对"] * 4
    labels = ["停电", "停电", "停电", "电费", "电费", "电费"] * 4
    model = ComplaintClassifier(Cs=(1.0,), min_df=1).fit(texts, labels)
    assert model.predict(["昨晚停电", "这个月电费"]).tolist() == ["停电", "电费"]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="at least 2 categories"):
        ComplaintClassifier().fit(["a", "b"], ["x", "x"])
    model = ComplaintClassifier(Cs=(1.0,), min_df=1).fit(*corpus(30))
    with pytest.raises(ValueError, match="'text' column"):
        model.predict_frame(pd.DataFrame({"body": ["x"]}))


def test_baseline_fits_the_same_tokens():
    texts, labels = corpus()
    docs = ComplaintClassifier().tokenize(texts)
    base = BaselineClassifier().fit_tokens(docs, labels)
    assert (base.predict_tokens(docs) == np.array(labels)).mean() > 0.9
