"""Theft risk: LightGBM with settings chosen by inner CV, isotonic calibration, reasons (pure).

:class:`TheftRiskModel` follows the scikit-learn contract and is the *bundle* the registry stores and
serving loads: ``fit(X, y)``, ``predict_proba``, ``reasons``, ``feature_names_in_``, ``params_``,
``calibrator_``, ``inner_auc_``.

Positive-unlabelled awareness
-----------------------------
A customer nobody inspected is *not* a clean customer. ``fit`` therefore accepts ``y`` with NaN
(uninspected, or inspected but ``not_reached``) and drops those rows: the model learns
P(theft confirmed | inspected) from inspected customers only, and scores everyone. Uninspected
customers are never used as negatives. The selection bias of past inspections (inspectors visit
suspicious customers) remains and is stated in every run's report.

Invariants
----------
- Settings and calibration come from the training rows only: the inner CV splits them, the
  calibrator is fitted on the inner out-of-fold scores of the chosen settings (never on test rows).
- Prediction uses ``feature_names_in_`` only, in that order; a missing column becomes NaN (LightGBM
  treats it as missing) and is logged once, extra columns are ignored.
"""

from __future__ import annotations

import itertools
import logging

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import QuantileTransformer

logger = logging.getLogger(__name__)

#: LightGBM settings searched by the inner CV (small on purpose: robust, not tuned to one data set)
DEFAULT_GRID: dict[str, tuple] = {"num_leaves": (15, 31), "min_child_samples": (50,)}
#: the grid for fewer than SMALL_DATA labelled customers (a new tenant's first inspections)
SMALL_GRID: dict[str, tuple] = {"num_leaves": (4, 7), "min_child_samples": (3, 8)}
SMALL_DATA = 2_000
BASE_PARAMS: dict[str, object] = {
    "n_estimators": 300,
    "learning_rate": 0.05,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.5,
    "reg_lambda": 1.0,
    "verbose": -1,
}


def make_baseline(random_state: int = 0) -> Pipeline:
    """The simple scored baseline: median impute, rank-normalise, L2 logistic regression."""
    return make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        QuantileTransformer(n_quantiles=200, output_distribution="normal", random_state=random_state),
        LogisticRegression(C=0.5, max_iter=2000, random_state=random_state),
    )


def labelled(y: pd.Series | np.ndarray) -> np.ndarray:
    """Mask of rows with a label (inspected with an outcome); NaN = uninspected or not reached."""
    return np.isfinite(np.asarray(y, dtype=float))


class TheftRiskModel(ClassifierMixin, BaseEstimator):
    """Calibrated theft-risk classifier.

    Parameters
    ----------
    grid : dict, optional
        LightGBM settings searched by `inner_folds`-fold CV on AUC (default :data:`DEFAULT_GRID`, or
        :data:`SMALL_GRID` below :data:`SMALL_DATA` labelled customers).
    inner_folds : int
        Folds of the inner CV (settings and calibration).
    random_state : int
        Seed for folds and trees.
    n_jobs : int
        LightGBM threads.
    """

    def __init__(self, grid: dict | None = None, inner_folds: int = 3, random_state: int = 0, n_jobs: int = 2):
        self.grid = grid
        self.inner_folds = inner_folds
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _booster(self, params: dict) -> lgb.LGBMClassifier:
        return lgb.LGBMClassifier(**BASE_PARAMS, **params, random_state=self.random_state, n_jobs=self.n_jobs)

    def fit(self, X: pd.DataFrame, y: pd.Series | np.ndarray) -> TheftRiskModel:
        """Fit on rows with a label (NaN labels = uninspected: dropped, never used as negatives)."""
        keep = labelled(y)
        X = X.loc[keep].astype(float)
        y = np.asarray(y, dtype=float)[keep].astype(int)
        if len(np.unique(y)) < 2:
            raise ValueError(f"theft labels: need both outcomes among {len(y)} inspected customers; got {np.unique(y)}")
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        grid = self.grid if self.grid is not None else (SMALL_GRID if len(y) < SMALL_DATA else DEFAULT_GRID)
        combos = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
        folds = StratifiedKFold(
            min(self.inner_folds, int(np.bincount(y).min())), shuffle=True, random_state=self.random_state
        )
        oof = np.zeros((len(combos), len(y)))
        for train, test in folds.split(X, y):
            for k, params in enumerate(combos):
                model = self._booster(params).fit(X.iloc[train], y[train])
                oof[k, test] = model.predict_proba(X.iloc[test])[:, 1]
        aucs = [roc_auc_score(y, o) for o in oof]
        best = int(np.argmax(aucs))
        self.params_, self.inner_auc_ = combos[best], float(aucs[best])
        self.booster_ = self._booster(self.params_).fit(X, y)
        self.calibrator_ = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(oof[best], y)
        self.classes_ = np.array([0, 1])
        self.n_labelled_, self.base_rate_ = len(y), float(y.mean())
        logger.info(
            "theft model: %d inspected, base rate %.3f, settings %s, inner AUC %.3f",
            len(y),
            y.mean(),
            self.params_,
            self.inner_auc_,
        )
        return self

    def _matrix(self, X: pd.DataFrame) -> pd.DataFrame:
        if not hasattr(self, "booster_"):
            raise NotFittedError("TheftRiskModel is not fitted")
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            logger.warning("theft model: %d feature(s) missing, scored as missing: %s", len(missing), missing[:5])
        return X.reindex(columns=list(self.feature_names_in_)).astype(float)

    def raw_score(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated LightGBM probability (for ranking diagnostics)."""
        M = self._matrix(X)  # raises NotFittedError when unfitted
        return self.booster_.predict_proba(M)[:, 1]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated P(theft confirmed if inspected), shape (n, 2)."""
        raw = self.raw_score(X)  # raises NotFittedError first
        p = self.calibrator_.predict(raw)
        return np.column_stack([1 - p, p])

    def predict_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """``theft_probability`` per row (the registry's pyfunc output)."""
        return pd.DataFrame({"theft_probability": self.predict_proba(X)[:, 1]}, index=X.index)

    def reasons(self, X: pd.DataFrame, k: int = 3) -> pd.DataFrame:
        """Top `k` features pushing each customer's risk up (SHAP contributions in log-odds).

        Returns a long frame: ``customer`` (row position), ``rank``, ``feature``, ``value``, ``contribution``.
        """
        M = self._matrix(X)
        contrib = self.booster_.predict_proba(M, pred_contrib=True)[:, :-1]
        order = np.argsort(-contrib, axis=1)[:, :k]
        rows = np.repeat(np.arange(len(M)), k)
        cols = order.ravel()
        return pd.DataFrame(
            {
                "customer": rows,
                "rank": np.tile(np.arange(1, k + 1), len(M)),
                "feature": self.feature_names_in_[cols],
                "value": M.to_numpy()[rows, cols],
                "contribution": contrib[rows, cols],
            }
        )
