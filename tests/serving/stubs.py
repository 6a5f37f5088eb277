"""The stub bundles live in ``benchmarks/harness/stubs.py`` (shared with the reliability benchmark)."""

from harness.stubs import ACTIONS, FEATURES, GRADES, StubArrears, StubForecaster, StubLoader, StubSegmenter

__all__ = ["ACTIONS", "FEATURES", "GRADES", "StubArrears", "StubForecaster", "StubLoader", "StubSegmenter"]
