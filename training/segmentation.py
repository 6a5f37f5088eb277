"""Customer segmentation by normalised load shape (pure): :class:`LoadShapeSegmenter` and its metrics.

Features (from :func:`features.shapes.build_shapes`) are grouped: ``level`` (log mean daily kWh),
``weekly`` (7 day-of-week ratios), ``annual`` (12 monthly ratios) and ``daily`` (24 hourly ratios, used
only when most customers have interval data). Shape ratios are log-transformed, every column is
standardised and clipped at ``±clip``, and each group is weighted by ``1/sqrt(columns)`` so that a
group counts as much as the one-column level. k-means (or a diagonal Gaussian mixture) is fitted for
every k in ``k_range``. k-means candidates are fitted on most customers and scored on the others (a
stable hash of ``customer_id`` picks ``selection_frac`` of them), all in the one feature space scaled on
the training rows, as silhouette minus ``k_penalty`` per cluster above the smallest k; the best k is then
refitted on every row. The mixture picks k by BIC (already penalised for size).

Segment names are generated from the centroids ("winter peak, high use, weekend-heavy") and kept
across retrains: the new centroids are matched to the previous model's by the Hungarian algorithm and a
matched cluster inherits the old name. Invariant: a row with too little data (``days_observed <
min_days`` or a missing feature) gets segment ``-1`` / ``"insufficient data"``, never a cluster.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture

from features.asof import require_columns
from features.shapes import SHAPE_GROUPS
from training.segment_names import INSUFFICIENT, describe_centroids, unique_names
from training.segment_quality import bootstrap_stability, evaluate_segments, heldout_customers, spread
from training.value_matrix import DEFAULT_RULES, StrategyRule, ValueCreditMatrix

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_RULES",
    "INSUFFICIENT",
    "LoadShapeSegmenter",
    "StrategyRule",
    "ValueCreditMatrix",
    "bootstrap_stability",
    "evaluate_segments",
    "heldout_customers",
    "spread",
]


def _as_frame(X: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(X, pd.DataFrame):
        raise ValueError(f"X is {type(X).__name__}; expected a DataFrame of shape features keyed by customer_id")
    if "customer_id" in X.columns:
        X = X.set_index(X["customer_id"].astype(str)).drop(columns="customer_id")
    return X.rename_axis("customer_id")  # a new frame: the caller's index keeps its name


class LoadShapeSegmenter(ClusterMixin, BaseEstimator):
    """Cluster customers by load shape; name the clusters; map them to strategies.

    Parameters
    ----------
    groups : tuple of str
        Feature groups to use, from ``level``, ``weekly``, ``annual``, ``daily`` and ``temperature``
        (``temp_slope_hdd``; off by default: it needs weather and mostly repeats the annual shape).
    k_range : tuple of 2 ints
        Smallest and largest number of clusters tried (inclusive).
    method : {"kmeans", "gmm"}
        k-means with k by silhouette, or a diagonal Gaussian mixture with k by BIC.
    window_days : int
        Days of readings per shape the model expects (jobs build shapes with it; not used by ``fit``).
    min_days : int
        Days of readings (``days_observed``) a customer needs to get a segment.
    daily_min_coverage : float
        Share of fitted customers that need a 24-hour shape for the ``daily`` group to be used.
    clip : float
        Standardised features are clipped to ``[-clip, clip]`` (outlying households do not pull centroids).
    match_tol : float
        Largest centroid distance (scaled units) at which a new cluster inherits a previous name.
    n_init : int
        k-means restarts.
    silhouette_sample : int
        Rows sampled for the silhouette when choosing k (all rows when fewer).
    selection_frac : float
        Share of the customers held out (by a stable hash of ``customer_id``) to score each candidate k.
        With fewer than ``max(10, 2 * k_max)`` held-out customers, k is scored on the training rows.
    k_penalty : float
        Subtracted from a candidate's silhouette per cluster above the smallest k tried: one more segment
        must separate customers better by this much (0.01: differences below it are within the spread
        between seeds) to be worth a name, a strategy and a row in every report.
    matrix : ValueCreditMatrix, optional
        Value x credit matrix template (default :class:`ValueCreditMatrix`), fitted as ``matrix_``.
    random_state : int
        Seed of k-means, the mixture and the silhouette sample.

    Attributes
    ----------
    feature_names_in_ : ndarray of str
        Columns clustered on (X must hold them; ``days_observed`` is used when present).
    segment_names_ : list of str
        Name of segment ``i`` at position ``i``; unique.
    centroids_ : DataFrame
        Cluster centres in feature units (ratios, log1p kWh), indexed by segment name.
    cluster_centers_ : ndarray, shape (k, n_features)
        Centres in the scaled, weighted space where distances are measured.
    labels_ : ndarray
        Segment of each fitted row (``-1`` for insufficient data).
    n_clusters_, selection_scores_, matrix_, name_matches_
        Chosen k, score per k tried, fitted value x credit matrix, ``{new name: previous name}``.
    """

    def __init__(
        self,
        *,
        groups: tuple[str, ...] = ("level", "weekly", "annual", "daily"),
        k_range: tuple[int, int] = (3, 8),
        method: str = "kmeans",
        window_days: int = 365,
        min_days: int = 300,
        daily_min_coverage: float = 0.9,
        clip: float = 3.0,
        match_tol: float = 1.0,
        n_init: int = 10,
        silhouette_sample: int = 5000,
        selection_frac: float = 0.25,
        k_penalty: float = 0.01,
        matrix: ValueCreditMatrix | None = None,
        random_state: int = 0,
    ):
        self.groups = groups
        self.k_range = k_range
        self.method = method
        self.window_days = window_days
        self.min_days = min_days
        self.daily_min_coverage = daily_min_coverage
        self.clip = clip
        self.match_tol = match_tol
        self.n_init = n_init
        self.silhouette_sample = silhouette_sample
        self.selection_frac = selection_frac
        self.k_penalty = k_penalty
        self.matrix = matrix
        self.random_state = random_state

    # --- features -------------------------------------------------------------------------------
    def _check_params(self) -> None:
        unknown = [g for g in self.groups if g not in SHAPE_GROUPS]
        if unknown or not self.groups:
            raise ValueError(f"groups={self.groups}; expected a non-empty subset of {tuple(SHAPE_GROUPS)}")
        lo, hi = self.k_range
        if not 2 <= lo <= hi:
            raise ValueError(f"k_range={self.k_range}; expected 2 <= low <= high")
        if self.method not in {"kmeans", "gmm"}:
            raise ValueError(f"method={self.method!r}; expected 'kmeans' or 'gmm'")
        if not 0 <= self.selection_frac < 1 or self.k_penalty < 0:
            raise ValueError(
                f"selection_frac={self.selection_frac}, k_penalty={self.k_penalty}; expected [0, 1) and >= 0"
            )

    def _select_columns(self, X: pd.DataFrame) -> list[str]:
        base = [c for g in self.groups if g != "daily" for c in SHAPE_GROUPS[g]]
        require_columns(X.reset_index(), "shapes", base)
        cols = list(base)
        if "daily" in self.groups and all(c in X.columns for c in SHAPE_GROUPS["daily"]):
            ok = self._enough_days(X) & X[base].notna().all(axis=1)
            coverage = X.loc[ok, list(SHAPE_GROUPS["daily"])].notna().all(axis=1).mean() if ok.any() else 0.0
            if coverage >= self.daily_min_coverage:
                cols += list(SHAPE_GROUPS["daily"])
            else:
                logger.info(
                    "24-hour shape left out: %.0f%% of customers have one (< %.0f%%)",
                    100 * coverage,
                    100 * self.daily_min_coverage,
                )
        return cols

    def _enough_days(self, X: pd.DataFrame) -> np.ndarray | pd.Series:
        if "days_observed" not in X.columns:
            return pd.Series(True, index=X.index)
        return X["days_observed"].fillna(0).to_numpy() >= self.min_days

    def _sufficient(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(self._enough_days(X) & X[list(self.feature_names_in_)].notna().all(axis=1).to_numpy())

    def _log_features(self, raw: np.ndarray) -> np.ndarray:
        out = raw.astype(float).copy()
        out[:, self._is_ratio] = np.log(np.clip(out[:, self._is_ratio], 0.1, 10.0))
        return out

    def _transform(self, raw: np.ndarray) -> np.ndarray:
        z = (self._log_features(raw) - self.mean_) / self.scale_
        return np.clip(z, -self.clip, self.clip) * self.weights_

    def _to_units(self, centers: np.ndarray) -> np.ndarray:
        logged = centers / self.weights_ * self.scale_ + self.mean_
        logged[:, self._is_ratio] = np.exp(logged[:, self._is_ratio])
        return logged

    # --- fit / predict --------------------------------------------------------------------------
    def fit(
        self, X: pd.DataFrame, y=None, *, previous: LoadShapeSegmenter | pd.DataFrame | None = None
    ) -> LoadShapeSegmenter:
        """Fit on the customers with enough data; name clusters, matching `previous` centroids.

        Parameters
        ----------
        X : DataFrame
            Shape features indexed (or keyed by a column) by ``customer_id``.
        previous : LoadShapeSegmenter or DataFrame, optional
            The champion (or its ``centroids_``: index segment names, columns features); matched clusters
            keep its names.
        """
        self._check_params()
        X = _as_frame(X)
        cols = self._select_columns(X)
        self.feature_names_in_ = np.asarray(cols, dtype=object)
        self.n_features_in_ = len(cols)
        self._is_ratio = np.array([c.startswith("shape_") for c in cols])  # log-transformed ratios
        ok = self._sufficient(X)
        hi = self.k_range[1]
        if ok.sum() < max(2 * hi, 10):
            raise ValueError(
                f"{int(ok.sum())} customers with enough data; expected at least {max(2 * hi, 10)} to fit k <= {hi}"
            )
        logged = self._log_features(X.loc[ok, cols].to_numpy(dtype=float))
        self.mean_ = logged.mean(axis=0)
        self.scale_ = np.where(logged.std(axis=0) > 1e-12, logged.std(axis=0), 1.0)
        group_of = [g for c in cols for g in self.groups if c in SHAPE_GROUPS[g]]
        sizes = pd.Series(group_of).value_counts()
        self.weights_ = np.array([1 / np.sqrt(sizes[g]) for g in group_of])
        Z = self._transform(X.loc[ok, cols].to_numpy(dtype=float))

        self.selection_scores_ = self._score_candidates(Z, X.index[ok])
        self.n_clusters_ = max(self.selection_scores_, key=lambda k: (self.selection_scores_[k], -k))
        self.model_, _ = self._fit_k(Z, self.n_clusters_)
        centers = self.model_.cluster_centers_ if self.method == "kmeans" else self.model_.means_
        units = self._to_units(centers)
        order = np.lexsort((units[:, 1] if units.shape[1] > 1 else units[:, 0], units[:, 0]))  # by level, then shape
        self.cluster_centers_ = centers[order]
        self._model_to_segment = np.argsort(order)
        units = units[order]
        self.level_edges_ = np.quantile(X.loc[ok, cols[0]], [1 / 3, 2 / 3]) if cols[0].startswith("level") else None
        names = describe_centroids(pd.DataFrame(units, columns=cols), self.level_edges_)
        self.segment_names_, self.name_matches_ = self._name(names, previous)
        self.centroids_ = pd.DataFrame(units, columns=cols, index=pd.Index(self.segment_names_, name="segment_name"))
        self.labels_ = self.predict(X)
        kwh = X["kwh_mean_day"] if "kwh_mean_day" in X.columns else np.expm1(X.get("level_log1p_kwh", np.nan))
        self.matrix_ = clone(self.matrix if self.matrix is not None else ValueCreditMatrix()).fit(np.asarray(kwh)[ok])
        logger.info(
            "segments: k=%d (scores %s), names %s",
            self.n_clusters_,
            {k: round(v, 3) for k, v in self.selection_scores_.items()},
            self.segment_names_,
        )
        return self

    def _fit_k(self, Z: np.ndarray, k: int):
        if self.method == "kmeans":
            model = KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state).fit(Z)
            return model, model.labels_
        model = GaussianMixture(n_components=k, covariance_type="diag", n_init=2, random_state=self.random_state).fit(Z)
        return model, model.predict(Z)

    def _score_candidates(self, Z: np.ndarray, ids: pd.Index) -> dict[int, float]:
        """Score per candidate k: held-out silhouette minus the k penalty (k-means), or -BIC (mixture)."""
        lo, hi = self.k_range
        held = heldout_customers(ids, self.selection_frac)
        if self.method == "gmm" or held.sum() < max(10, 2 * hi) or (~held).sum() < max(10, 2 * hi):
            held = np.ones(len(Z), dtype=bool)  # too few to hold out: score on the training rows
            fit_rows = held
        else:
            fit_rows = ~held
        scores = {}
        for k in range(lo, hi + 1):
            model, _ = self._fit_k(Z[fit_rows], k)
            if self.method == "gmm":
                scores[k] = -float(model.bic(Z))
                continue
            labels = model.predict(Z[held])
            n = min(self.silhouette_sample, int(held.sum()))
            sil = (
                float(silhouette_score(Z[held], labels, sample_size=n, random_state=self.random_state))
                if 1 < len(np.unique(labels)) < held.sum()
                else -1.0
            )
            scores[k] = sil - self.k_penalty * (k - lo)
        return scores

    def _name(self, generated: list[str], previous) -> tuple[list[str], dict[str, str]]:
        prev = previous.centroids_ if isinstance(previous, LoadShapeSegmenter) else previous
        names: list[str | None] = [None] * len(generated)
        matches: dict[str, str] = {}
        cols = list(self.feature_names_in_)
        if prev is not None and len(prev) and all(c in prev.columns for c in cols):
            prev_z = self._transform(prev[cols].to_numpy(dtype=float))
            cost = np.linalg.norm(self.cluster_centers_[:, None, :] - prev_z[None, :, :], axis=2)
            rows, cols_ = linear_sum_assignment(cost)
            for r, c in zip(rows, cols_, strict=True):
                if cost[r, c] <= self.match_tol:
                    names[r] = str(prev.index[c])
            matches = {names[r]: str(prev.index[c]) for r, c in zip(rows, cols_, strict=True) if names[r] is not None}
            logger.info("name matching: %d of %d clusters keep a previous name", len(matches), len(generated))
        elif prev is not None:
            logger.warning(
                "previous centroids lack features %s; segments get fresh names",
                [c for c in cols if c not in prev.columns],
            )
        return unique_names(names, generated), matches

    def _distances(self, Z: np.ndarray) -> np.ndarray:
        return np.linalg.norm(Z[:, None, :] - self.cluster_centers_[None, :, :], axis=2)

    def predict_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        """Segment of each row: ``segment_id`` (-1 insufficient data), ``segment_name``, ``distance``.

        ``distance`` is the Euclidean distance to the segment's centre in the scaled feature space (NaN for
        insufficient data). The index is X's ``customer_id``.
        """
        X = _as_frame(X)
        require_columns(X.reset_index(), "shapes", list(self.feature_names_in_))
        ok = self._sufficient(X)
        seg = np.full(len(X), -1, dtype=int)
        dist = np.full(len(X), np.nan)
        if ok.any():
            Z = self._transform(X.loc[ok, list(self.feature_names_in_)].to_numpy(dtype=float))
            d = self._distances(Z)
            if self.method == "kmeans":
                seg[ok] = d.argmin(axis=1)
            else:
                seg[ok] = self._model_to_segment[self.model_.predict(Z)]
            dist[ok] = d[np.arange(len(Z)), seg[ok]]
        names = np.asarray([*self.segment_names_, INSUFFICIENT], dtype=object)[seg]  # -1 -> last
        return pd.DataFrame({"segment_id": seg, "segment_name": names, "distance": dist}, index=X.index)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Segment ids (``-1`` for insufficient data)."""
        return self.predict_frame(X)["segment_id"].to_numpy()

    def score(self, X: pd.DataFrame, y=None) -> float:
        """Silhouette of this model's segments on X's sufficient rows (higher is better)."""
        return evaluate_segments(self, X, random_state=self.random_state)["silhouette"]

    def strategy_for(self, segment_name: str, value_band: str, grade: str) -> str:
        """Service strategy of a matrix cell (see :class:`ValueCreditMatrix`)."""
        return self.matrix_.strategy_for(segment_name, value_band, grade)

    def assign_strategies(self, X: pd.DataFrame, grades: pd.DataFrame | None = None) -> pd.DataFrame:
        """Segments plus value band, grade, key-account / high-risk flags and strategy, keyed by customer_id."""
        X = _as_frame(X)
        seg = self.predict_frame(X).reset_index()
        seg["kwh_mean_day"] = (
            X["kwh_mean_day"] if "kwh_mean_day" in X.columns else np.expm1(X["level_log1p_kwh"])
        ).to_numpy()
        if "is_repeat_complainer" in X.columns:  # complaint profile: the matrix gives them a named handling
            seg["is_repeat_complainer"] = X["is_repeat_complainer"].fillna(False).astype(bool).to_numpy()
        return self.matrix_.assign(seg, grades)
