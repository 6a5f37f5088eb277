"""Arrears risk: LightGBM + probability calibration on a later time slice + credit grades (pure).

:class:`ArrearsRiskModel` follows the scikit-learn contract and is the *bundle* pickled into the
registry and loaded by serving: ``feature_names_in_``, ``predict_proba``, ``predict_frame``,
``grade``, ``reasons_frame``, ``booster_``, ``calibrator_``, ``grade_policy_``.
:class:`GradePolicy` maps probabilities to grades (AAA … C), each with a collection action.

Invariants
----------
- ``fit`` never reorders rows: the calibration slice (when not given) is the *last* rows, so callers
  pass rows in time order and the calibrator is fitted on a later period than the trees.
- Prediction uses the columns named in ``feature_names_in_`` only, in that order; extra columns are
  ignored and a missing one raises a ``ValueError`` naming it.
"""

from __future__ import annotations

import itertools
import json
import logging
from functools import lru_cache
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, model_validator
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_array, column_or_1d
from sklearn.utils.multiclass import check_classification_targets, type_of_target

from training import tree_contrib
from training.reasons import ReasonWriter

logger = logging.getLogger(__name__)
NON_FEATURES = frozenset({"label", "label_known", "as_of", "cutoff", "y", "target"})


class GradeBand(BaseModel):
    """One grade: probabilities below `upper` (and at or above the previous band's) get it."""

    model_config = ConfigDict(frozen=True)
    grade: str
    upper: float
    action: str


DEFAULT_BANDS = (
    GradeBand(grade="AAA", upper=0.10, action="none"),
    GradeBand(grade="AA", upper=0.20, action="reminder SMS"),
    GradeBand(grade="A", upper=0.35, action="call"),
    GradeBand(grade="B", upper=0.60, action="prepayment or deposit"),
    GradeBand(grade="C", upper=1.0, action="field visit"),
)


class GradePolicy(BaseModel):
    """Probability bands -> grades and recommended collection actions (best grade first).

    Override with a JSON or YAML file holding ``{"bands": [{"grade", "upper", "action"}, ...]}``
    (:meth:`from_file`). Band upper bounds must increase strictly and the last must be 1.0.
    """

    model_config = ConfigDict(frozen=True)
    bands: tuple[GradeBand, ...] = DEFAULT_BANDS

    @model_validator(mode="after")
    def _ordered(self) -> GradePolicy:
        uppers = [b.upper for b in self.bands]
        if not uppers or any(b <= a for a, b in itertools.pairwise(uppers)) or uppers[-1] != 1.0:
            raise ValueError(f"band upper bounds {uppers}; expected strictly increasing, ending at 1.0")
        if uppers[0] <= 0:
            raise ValueError(f"first band upper bound {uppers[0]}; expected > 0")
        return self

    @classmethod
    def from_file(cls, path: Path) -> GradePolicy:
        """Read a policy from ``.json`` or ``.yaml``/``.yml``."""
        path = Path(path)
        text = path.read_text()
        if path.suffix in {".yaml", ".yml"}:
            import yaml

            return cls.model_validate(yaml.safe_load(text))
        return cls.model_validate(json.loads(text))

    @property
    def grades(self) -> list[str]:
        return [b.grade for b in self.bands]

    def grade(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grades and actions (object arrays) for probabilities `p`; monotone: higher p, worse grade."""
        uppers, grades, actions = _band_arrays(self.bands)
        idx = np.searchsorted(uppers, np.asarray(p, dtype=float), side="right")
        return grades[idx], actions[idx]


@lru_cache(maxsize=32)
def _band_arrays(bands: tuple[GradeBand, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.array([b.upper for b in bands[:-1]]),
        np.array([b.grade for b in bands], dtype=object),
        np.array([b.action for b in bands], dtype=object),
    )


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """Numeric and boolean columns of a training set, minus ids, dates, labels and cutoffs."""
    out = []
    for name, dtype in frame.dtypes.items():
        if name in NON_FEATURES or str(name).endswith(("_id", "_date", "_at")):
            continue
        if pd.api.types.is_bool_dtype(dtype) or (
            pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_datetime64_any_dtype(dtype)
        ):
            out.append(str(name))
    return out


def make_baseline(random_state: int = 0) -> Pipeline:
    """Logistic-regression baseline: median impute (+ missing flags), standardise, L2 logistic."""
    return make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(C=0.5, max_iter=2000, random_state=random_state),
    )


def as_matrix(X: pd.DataFrame | np.ndarray, names: list[str]) -> np.ndarray:
    """Float64 matrix of `names` (in order); inf becomes NaN. Raises ValueError naming missing columns."""
    if isinstance(X, pd.DataFrame):
        if len(X.columns) == len(names) and all(a == b for a, b in zip(X.columns, names, strict=True)):
            M = X.to_numpy(dtype=np.float64, na_value=np.nan)  # fast path: already the model's columns
        else:
            if not all(isinstance(c, str) for c in X.columns):
                X = X.set_axis([str(c) for c in X.columns], axis=1)
            missing = [c for c in names if c not in X.columns]
            if missing:
                raise ValueError(f"missing feature columns {missing[:10]}; expected all of feature_names_in_")
            M = X.reindex(columns=names).to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        M = np.asarray(X, dtype=np.float64)
        if M.ndim != 2:
            raise ValueError(f"X has shape {M.shape}; expected 2-d. Reshape your data with X.reshape(1, -1)")
        if M.shape[1] != len(names):
            raise ValueError(
                f"X has {M.shape[1]} features, but ArrearsRiskModel is expecting {len(names)} features as input"
            )
    if not np.isfinite(M).all():
        M = np.where(np.isinf(M), np.nan, M)
    return M


class ArrearsRiskModel(ClassifierMixin, BaseEstimator):
    """Probability that a bill is paid more than ``late_days`` days late, with grade and reasons.

    Parameters
    ----------
    n_estimators : int
        Maximum boosting rounds; early stopping on the evaluation slice picks the number used.
    learning_rate, num_leaves, min_child_samples, subsample, colsample_bytree, reg_lambda :
        LightGBM tree parameters.
    early_stopping_rounds : int
        Stop when the evaluation log-loss has not improved for this many rounds.
    calibration : {"sigmoid", "isotonic", "none"}
        Map from raw scores to probabilities, fitted on the calibration slice. ``sigmoid`` (Platt on
        the log-odds, the default) keeps the ranking (no ties) and was better calibrated than
        isotonic on both the demo tenant and the Taiwan benchmark; ``isotonic`` is applied with
        ``np.interp`` on the stored thresholds (``calibration_x_``, ``calibration_y_``).
    calibration_fraction : float
        Share of the *last* rows held out when ``fit`` is not given a slice: for calibration when there
        is no ``calibration_set``, for early stopping when there is no ``eval_set``; with neither, the last
        ``calibration_fraction`` of the rows early-stop and the ones after that calibrate, so the two never
        share rows.
    grade_policy : GradePolicy, optional
        Bands and actions (default :class:`GradePolicy()`).
    feature_descriptions : dict, optional
        ``column -> (unit, description)`` used to word reasons for features without a template.
    late_days : int
        Only used in reason texts ("paid more than 30 days late").
    currency : str
        Symbol in reason texts.
    n_jobs : int
        LightGBM threads for training (prediction always uses one).
    random_state : int
    """

    def __init__(
        self,
        *,
        n_estimators: int = 2000,
        learning_rate: float = 0.03,
        num_leaves: int = 15,
        min_child_samples: int = 40,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        early_stopping_rounds: int = 100,
        calibration: str = "sigmoid",
        calibration_fraction: float = 0.2,
        grade_policy: GradePolicy | None = None,
        feature_descriptions: dict[str, tuple[str, str]] | None = None,
        late_days: int = 30,
        currency: str = "£",
        n_jobs: int = 1,
        random_state: int = 0,
    ):
        self.n_estimators, self.learning_rate, self.num_leaves = n_estimators, learning_rate, num_leaves
        self.min_child_samples, self.subsample, self.colsample_bytree = min_child_samples, subsample, colsample_bytree
        self.reg_lambda, self.early_stopping_rounds = reg_lambda, early_stopping_rounds
        self.calibration, self.calibration_fraction = calibration, calibration_fraction
        self.grade_policy, self.feature_descriptions = grade_policy, feature_descriptions
        self.late_days, self.currency, self.n_jobs, self.random_state = late_days, currency, n_jobs, random_state

    # ------------------------------------------------------------------ fit
    def _lgb_params(self) -> dict[str, object]:
        return {
            "objective": "binary",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1 if self.subsample < 1 else 0,
            "feature_fraction": self.colsample_bytree,
            "lambda_l2": self.reg_lambda,
            "num_threads": self.n_jobs,
            "seed": self.random_state,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }

    def fit(
        self,
        X: pd.DataFrame,
        y: pd.Series | np.ndarray,
        *,
        calibration_set: tuple[pd.DataFrame, np.ndarray] | None = None,
        eval_set: tuple[pd.DataFrame, np.ndarray] | None = None,
    ) -> ArrearsRiskModel:
        """Fit trees on `X`, early-stop on `eval_set`, then calibrate on `calibration_set` (never the same rows).

        Parameters
        ----------
        X : pandas.DataFrame, shape (n_rows, n_features)
            Feature columns only (see :func:`feature_columns`), rows in time order.
        y : array-like of {0, 1}, shape (n_rows,)
        calibration_set : (X_cal, y_cal), optional
            A later period for the calibrator; default: the last ``calibration_fraction`` of the rows.
        eval_set : (X_eval, y_eval), optional
            Early-stopping data; default: the last ``calibration_fraction`` of the (remaining) rows.
        """
        if self.calibration not in {"isotonic", "sigmoid", "none"}:
            raise ValueError(f"calibration={self.calibration!r}; expected 'isotonic', 'sigmoid' or 'none'")
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        if not isinstance(X, pd.DataFrame):
            X = check_array(X, dtype=np.float64, ensure_all_finite="allow-nan", ensure_min_samples=2)
        names = [str(c) for c in X.columns] if isinstance(X, pd.DataFrame) else [f"x{i}" for i in range(X.shape[1])]
        if isinstance(X, pd.DataFrame) and list(X.columns) != names:
            X = X.set_axis(names, axis=1)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        classes = np.unique(y)
        if classes.size > 2:
            raise ValueError(f"Only binary classification is supported. The type of the target is {type_of_target(y)}.")
        if classes.size < 2:
            raise ValueError(f"y has 1 class ({classes[0]!r}); expected two classes (0 = paid on time, 1 = arrears)")
        M, y = as_matrix(X, names), _encode(y, classes)
        if (calibration_set is None or eval_set is None) and not 0 < self.calibration_fraction < 1:
            raise ValueError(f"calibration_fraction={self.calibration_fraction}; expected in (0, 1)")
        if calibration_set is None:
            cut = round(len(y) * (1 - self.calibration_fraction))
            M, Mc, y, yc = M[:cut], M[cut:], y[:cut], y[cut:]
        else:
            Mc, yc = as_matrix(calibration_set[0], names), _encode(calibration_set[1], classes)
        if eval_set is None:  # its own slice: the last rows before the calibration ones
            cut = round(len(y) * (1 - self.calibration_fraction))
            M, Me, y, ye = M[:cut], M[cut:], y[:cut], y[cut:]
        else:
            Me, ye = as_matrix(eval_set[0], names), _encode(eval_set[1], classes)
        train = lgb.Dataset(M, y, feature_name=names, free_raw_data=True)
        callbacks = [lgb.log_evaluation(0)]
        valid_sets = []
        if len(ye) and np.unique(ye).size == 2 and self.early_stopping_rounds:
            valid_sets = [lgb.Dataset(Me, ye, reference=train)]
            callbacks.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
        self.booster_ = lgb.train(
            self._lgb_params(), train, num_boost_round=self.n_estimators, valid_sets=valid_sets, callbacks=callbacks
        )
        if valid_sets:  # keep only the trees up to the best iteration
            self.booster_ = lgb.Booster(
                model_str=self.booster_.model_to_string(num_iteration=self.booster_.best_iteration)
            )
        self.best_iteration_ = int(self.booster_.current_iteration())
        self.feature_names_in_ = names
        self.n_features_in_ = len(names)
        self.classes_ = classes
        self._fit_calibrator(self._raw(Mc), yc)
        self.grade_policy_ = self.grade_policy or GradePolicy()
        self.reasons_ = ReasonWriter(
            names, self.feature_descriptions, constants={"late_days": self.late_days}, currency=self.currency
        )
        logger.info(
            "arrears model: %d trees, %d features, calibration=%s on %d rows",
            self.best_iteration_,
            len(names),
            self.calibration,
            len(yc),
        )
        return self

    def _fit_calibrator(self, raw: np.ndarray, y: np.ndarray) -> None:
        self.calibrator_ = None
        self.calibration_x_ = self.calibration_y_ = None
        self.platt_ = None
        if self.calibration == "none" or len(y) == 0 or np.unique(y).size < 2:
            if self.calibration != "none":
                logger.warning("calibration slice has %d rows and classes %s: left uncalibrated", len(y), np.unique(y))
            return
        if self.calibration == "isotonic":
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, y)
            self.calibrator_ = iso
            self.calibration_x_ = np.asarray(iso.X_thresholds_, dtype=float)
            self.calibration_y_ = np.asarray(iso.y_thresholds_, dtype=float)
        else:
            margin = _logit(raw).reshape(-1, 1)
            lr = LogisticRegression(C=1e6, max_iter=1000).fit(margin, y)
            self.calibrator_ = lr
            self.platt_ = (float(lr.coef_[0, 0]), float(lr.intercept_[0]))

    # ------------------------------------------------------------------ predict
    def _raw(self, M: np.ndarray) -> np.ndarray:
        if not hasattr(self, "booster_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit first")
        return self.booster_.predict(M, num_threads=1)

    def _calibrate(self, raw: np.ndarray) -> np.ndarray:
        if self.calibration_x_ is not None:
            return np.interp(raw, self.calibration_x_, self.calibration_y_)
        if self.platt_ is not None:
            a, b = self.platt_
            return 1.0 / (1.0 + np.exp(-(a * _logit(raw) + b)))
        return raw

    def predict_risk(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Calibrated probability of arrears, shape (n_rows,)."""
        if not hasattr(self, "booster_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted yet; call fit first")
        return self._calibrate(self._raw(as_matrix(X, self.feature_names_in_)))

    def predict_proba(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Shape (n_rows, 2): probability of paying on time, probability of arrears."""
        p = self.predict_risk(X)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """The arrears class (``classes_[1]``, normally 1) where its probability is at least 0.5."""
        p = self.predict_risk(X)
        return self.classes_[(p >= 0.5).astype(int)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        tags.input_tags.allow_nan = True
        return tags

    def grade(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Grades and recommended actions for probabilities `p` (see :class:`GradePolicy`)."""
        return self.grade_policy_.grade(p)

    def predict_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """``probability``, ``grade``, ``action`` per row of `X` (index kept); the MLflow signature."""
        p = self.predict_risk(X)
        grades, actions = self.grade(p)
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame({"probability": p, "grade": grades, "action": actions}, index=index)

    def contributions(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Per-feature contributions to the raw log-odds (LightGBM SHAP values), shape (n, n_features)."""
        return tree_contrib.contributions(self.booster_, as_matrix(X, self.feature_names_in_))[:, :-1]

    def reasons_frame(self, X: pd.DataFrame | np.ndarray, top: int = 3) -> pd.DataFrame:
        """``reason_1`` … ``reason_<top>``: the features pushing each row's risk up, in words."""
        M = as_matrix(X, self.feature_names_in_)
        contrib = tree_contrib.contributions(self.booster_, M)[:, :-1]
        text = self.reasons_.write(M, contrib, top)
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(text, columns=[f"reason_{i + 1}" for i in range(top)], index=index, dtype=object)

    def feature_importance_frame(self) -> pd.DataFrame:
        """``feature``, ``gain``, ``split`` per input column, by gain descending."""
        return (
            pd.DataFrame(
                {
                    "feature": self.feature_names_in_,
                    "gain": self.booster_.feature_importance("gain"),
                    "split": self.booster_.feature_importance("split"),
                }
            )
            .sort_values("gain", ascending=False, kind="stable")
            .reset_index(drop=True)
        )


def _encode(y: pd.Series | np.ndarray, classes: np.ndarray) -> np.ndarray:
    """1.0 where `y` is the second (arrears) class, else 0.0."""
    return (np.asarray(y).ravel() == classes[1]).astype(float)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))
