"""Exact LightGBM SHAP contributions for large batches, computed once per distinct path through each tree.

LightGBM's ``predict(pred_contrib=True)`` runs TreeSHAP for every row and every tree: O(rows x trees x
leaves x depth^2). A tree's SHAP values for a row depend only on which side of each of the tree's splits
the row falls (path-dependent TreeSHAP follows the row where a split's feature is "present" and the
training cover where it is not), so rows that fall on the same side of every split of a tree share that
tree's contributions exactly. :func:`contributions` groups the rows per tree by their side of every split
of that tree, asks LightGBM for the contributions of one representative row per group and that tree alone
(``start_iteration=t, num_iteration=1``), and adds them up over the trees (SHAP values are additive over the
trees of an ensemble). The figures are LightGBM's own, summed in a different order (equal to about 1e-12).

The grouping is conservative: each feature used by a tree is cut at every threshold of that tree, one ulp
either side of it, at LightGBM's zero band (``kZeroThreshold``) and apart for NaN, so two rows in one group
take the same branch at every split however LightGBM reads missing values and zeros. Models with
categorical splits, several trees per iteration or small batches take LightGBM's direct path.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
from scipy import sparse

MIN_ROWS = 4096  # below this LightGBM's direct path is as fast (one call instead of one per tree)
_ZERO = 1e-35  # LightGBM's kZeroThreshold: |x| <= this counts as zero for missing_type "Zero"
_DENSE = 2  # renumber combined keys once they could exceed this many per row (a counting pass, no sort)


@dataclass(frozen=True)
class _Plan:
    edges: tuple[np.ndarray, ...]  # per feature, every cut point of every tree (thresholds, ulps, zero band)
    features: tuple[np.ndarray, ...]  # per tree, the features it splits on
    sides: tuple[tuple[np.ndarray, ...], ...]  # per tree and feature, the tree's side of each global bin


def _splits(node: dict, out: dict[int, list[float]]) -> bool:
    """Collect ``feature -> thresholds`` of a dumped tree; False where a split is not numerical."""
    if "split_feature" not in node:
        return True
    if node.get("decision_type") != "<=":
        return False
    out.setdefault(int(node["split_feature"]), []).append(float(node["threshold"]))
    return _splits(node["left_child"], out) and _splits(node["right_child"], out)


def _cuts(thresholds: list[float]) -> np.ndarray:
    t = np.asarray(thresholds, dtype=np.float64)
    return np.unique(np.concatenate([t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf), [-_ZERO, _ZERO]]))


def plan(booster) -> _Plan | None:
    """The cut points of every tree of `booster`, or None where only LightGBM's direct path applies."""
    dump = booster.dump_model()
    if dump.get("num_tree_per_iteration", 1) != 1:
        return None
    per_tree: list[dict[int, list[float]]] = []
    for info in dump["tree_info"]:
        found: dict[int, list[float]] = {}
        if not _splits(info["tree_structure"], found):
            return None
        per_tree.append(found)
    n_features = int(dump["max_feature_idx"]) + 1
    everything: dict[int, list[float]] = {}
    for found in per_tree:
        for f, t in found.items():
            everything.setdefault(f, []).extend(t)
    edges = tuple(_cuts(everything[f]) if f in everything else np.empty(0) for f in range(n_features))
    features, sides = [], []
    for found in per_tree:
        used = np.array(sorted(found), dtype=np.int64)
        # the global bins are finer than the tree's: map each (and NaN, the last) to the tree's own bin
        sides.append(
            tuple(
                np.append(np.searchsorted(_cuts(found[int(f)]), np.append(edges[f], np.inf), side="left"), -1)
                for f in used
            )
        )
        features.append(used)
    return _Plan(edges, tuple(features), tuple(sides))


_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _cached_plan(booster) -> _Plan | None:
    """:func:`plan`, kept for as long as the booster lives (a model is fitted once and scored many times)."""
    if booster not in _PLANS:
        _PLANS[booster] = plan(booster)
    return _PLANS[booster]


def _global_bins(M: np.ndarray, p: _Plan) -> np.ndarray:
    """Per row and feature, the bin among every cut point of the model (NaN: one past the last)."""
    bins = np.zeros(M.shape, dtype=np.int32, order="F")  # columns contiguous: read per feature
    for f, edges in enumerate(p.edges):
        if len(edges):
            x = M[:, f]
            b = np.searchsorted(edges, x, side="left")
            b[np.isnan(x)] = len(edges) + 1
            bins[:, f] = b
    return bins


def _compact(key: np.ndarray, span: int) -> tuple[np.ndarray, int]:
    """Renumber keys below `span` densely (0..distinct-1, order kept): a counting pass, no sort."""
    present = np.zeros(span, dtype=bool)
    present[key] = True
    rank = np.cumsum(present) - 1
    return rank[key], int(rank[-1]) + 1


def _groups(bins: np.ndarray, features: np.ndarray, sides: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(index of one representative row per group, group of every row) for one tree."""
    n = len(bins)
    key = np.zeros(n, dtype=np.int64)
    span = 1
    for f, side in zip(features, sides, strict=True):
        radix = int(side.max()) + 2  # the tree's bins of this feature, and NaN (-1 -> 0)
        if span * radix > _DENSE * n:
            key, span = _compact(key, span)
        key = key * radix + side[bins[:, f]] + 1
        span *= radix
    group, count = _compact(key, span)
    first = np.empty(count, dtype=np.int64)
    first[group[::-1]] = np.arange(n - 1, -1, -1)  # the last write wins: each group's first row
    return first, group


def contributions(booster, M: np.ndarray, p: _Plan | None = None) -> np.ndarray:
    """SHAP contributions of `M`'s rows, shape ``(n, n_features + 1)`` (last column: the expected value),
    as ``booster.predict(M, pred_contrib=True)`` returns them."""
    M = np.ascontiguousarray(M, dtype=np.float64)
    if p is None and len(M) >= MIN_ROWS:
        p = _cached_plan(booster)
    if p is None or len(M) < MIN_ROWS:
        return booster.predict(M, pred_contrib=True, num_threads=1)
    bins = _global_bins(M, p)
    parts, columns, offset = [], [], 0
    for t, (features, sides) in enumerate(zip(p.features, p.sides, strict=True)):
        first, group = _groups(bins, features, sides)
        parts.append(booster.predict(M[first], pred_contrib=True, start_iteration=t, num_iteration=1, num_threads=1))
        columns.append(group + offset)
        offset += len(first)
    # every row takes one group per tree: a 0/1 matrix (rows x groups) times the groups' contributions
    n, n_trees = len(M), len(parts)
    pick = sparse.csr_matrix(
        (np.ones(n * n_trees), np.column_stack(columns).ravel(), np.arange(0, n * n_trees + 1, n_trees)),
        shape=(n, offset),
    )
    return np.asarray(pick @ np.vstack(parts))
