"""ModelStore: registry fallback to models/, admission checks, score index lookups."""

from __future__ import annotations

import logging

import joblib
import numpy as np
import pandas as pd
import pytest

from features.errors import ModelNotReady, ModelRejected
from serving.model_store import ModelStore, registry_loader, snapshot_path
from tests.serving.stubs import StubArrears


def test_falls_back_to_models_dir_with_a_clear_log_line(settings, caplog):
    settings = settings.model_copy(update={"use_registry": True, "tracking_uri": None})  # no var/mlflow.db
    (settings.models_dir / "demo" / "arrears").mkdir(parents=True)
    joblib.dump(StubArrears(), settings.models_dir / "demo" / "arrears" / "model.joblib")
    (settings.models_dir / "demo" / "arrears" / "meta.json").write_text('{"kind": "arrears", "version": "12"}')
    load = registry_loader(settings)
    with caplog.at_level(logging.WARNING):
        bundle, version, source = load("arrears", "champion")
    assert (version, source) == ("12", "models_dir") and isinstance(bundle, StubArrears)
    assert "registry unavailable" in caplog.text and "no registry database" in caplog.text
    assert str(settings.models_dir / "demo" / "arrears" / "model.joblib") in caplog.text  # the log names the file
    with pytest.raises(ModelNotReady, match="needs the registry"):
        load("arrears", "3")
    with pytest.raises(ModelNotReady, match="no fallback bundle"):
        load("segments", "champion")


def test_failed_start_leaves_kind_not_ready_with_reason(settings):
    store = ModelStore(settings, loader=registry_loader(settings))  # no bundles anywhere
    store.load_all()
    assert set(store.not_ready()) == {"arrears", "segments", "forecast"}
    assert "no fallback bundle" in store.not_ready()["arrears"]
    assert str(settings.models_dir) not in store.not_ready()["arrears"]  # clients never see server paths
    with pytest.raises(ModelNotReady):
        store.get("arrears")


def test_admission_refuses_bad_candidates_and_keeps_the_old(store, loader):
    old = store.get("arrears")
    for bad in (StubArrears(broken=True), object(), None):
        loader.bundles["arrears"] = (bad, "9")
        with pytest.raises(ModelRejected):
            store.reload("arrears")
        assert store.get("arrears") is old
    loader.fail["arrears"] = EOFError("truncated pickle")
    with pytest.raises(ModelRejected, match="EOFError"):
        store.reload("arrears")
    assert store.get("arrears") is old and store.not_ready() == {}


def test_canary_rows_come_from_the_snapshot(store, settings):
    assert snapshot_path(settings).name == "profiles.parquet"
    canary = store.get("arrears").canary_rows()
    assert canary.shape == (8, 2) and canary[3, 0] == 13.0


class BoosterStub(StubArrears):
    """Exposes booster_ + _calibrate like ArrearsRiskModel; `skew` makes the fast path disagree."""

    def __init__(self, skew: float = 0.0):
        super().__init__()
        self.skew = skew
        outer = self

        class Booster:
            def predict(self, X, num_threads=1):
                x = np.asarray(X, dtype=float)
                return 0.1 * x[:, 0] + 0.8 * x[:, 1] - 2 + outer.skew

        self.booster_ = Booster()

    def _calibrate(self, raw):
        return 1 / (1 + np.exp(-raw))

    def predict_risk(self, X):
        return self.predict_proba(X)[:, 1]


@pytest.mark.parametrize(("skew", "fast"), [(0.0, True), (0.5, False)])
def test_fast_path_only_when_it_matches_the_public_api(store, loader, skew, fast):
    loader.bundles["arrears"] = (BoosterStub(skew), "2")
    runtime = store.reload("arrears")
    assert runtime._fast is fast
    X = np.array([[10.0, 1.0], [20.0, 0.0]])
    np.testing.assert_allclose(runtime.probability(X), StubArrears().predict_proba(X)[:, 1])


def test_a_candidate_that_fails_on_the_snapshot_is_refused(store, loader):
    class FailsOnRealRows(StubArrears):
        def predict_proba(self, X):
            if len(X) > 8:  # passes the canary, not the whole snapshot
                raise RuntimeError("bad on real rows")
            return super().predict_proba(X)

    old = store.get("arrears")
    loader.bundles["arrears"] = (FailsOnRealRows(), "2")
    with pytest.raises(ModelRejected, match="bad on real rows"):
        store.reload("arrears")
    assert store.get("arrears") is old


def test_segments_fall_back_to_batch_scores_while_the_snapshot_lacks_their_features(settings, loader):
    from tests.serving.stubs import StubSegmenter

    class ShapeSegmenter(StubSegmenter):
        def __init__(self):
            super().__init__()
            self.feature_names_in_ = ["shape_dow_mon", "shape_dow_sun"]

    batch = pd.DataFrame(
        {"customer_id": ["C001"], "segment_id": [1], "segment_name": ["evening peak"], "model_version": "7"}
    )
    (settings.var_dir / "scores/demo/segments").mkdir(parents=True)
    batch.assign(as_of=pd.Timestamp("2014-01-31")).to_parquet(settings.var_dir / "scores/demo/segments/latest.parquet")
    loader.bundles["segments"] = (ShapeSegmenter(), "7")
    store = ModelStore(settings, loader=loader)
    store.reload("segments")
    scores = store.get("segments").scores
    pos, known = scores.lookup(["C001", "nope"])
    assert known.tolist() == [True, False]
    assert scores.take("segment_name", pos, known).tolist() == ["evening peak", None]
    assert (scores.as_of, scores.model_version) == ("2014-01-31", "7")


def test_big_batches_use_one_thread_per_cpu_unless_configured(settings, loader):
    import os

    store = ModelStore(settings, loader=loader)
    store.load_all()
    assert store.get("arrears").threads == (os.cpu_count() or 1)
    pinned = ModelStore(settings.model_copy(update={"predict_threads": 3}), loader=loader)
    pinned.load_all()
    assert pinned.get("arrears").threads == 3


def test_a_reload_makes_threads_yield_the_gil_often_and_restores_the_default_after():
    import sys

    from serving.gil import RELOAD_SWITCH_INTERVAL_S, yielding_gil

    default = sys.getswitchinterval()
    with yielding_gil():
        assert sys.getswitchinterval() == pytest.approx(RELOAD_SWITCH_INTERVAL_S)
        with yielding_gil():  # two kinds reloading at once
            pass
        assert sys.getswitchinterval() == pytest.approx(RELOAD_SWITCH_INTERVAL_S)  # the other is still loading
    assert sys.getswitchinterval() == default
    with pytest.raises(RuntimeError), yielding_gil():
        raise RuntimeError("a refused candidate")
    assert sys.getswitchinterval() == default
