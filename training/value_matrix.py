"""Value x credit matrix (pure): consumption band crossed with arrears grade, mapped to a service strategy.

A customer's *value band* comes from the mean daily kWh (a revenue proxy at a flat tariff) against
quantile edges learned on the fitted population: ``low`` (< q50), ``medium`` (< q80), ``high`` (< q95),
``key`` (the largest 5 %, the key customers). The *grade* is the arrears model's (``AAA`` … ``C``) or
``unscored`` where no score exists. Each (segment, band, grade) is mapped to a strategy by an ordered
list of :class:`StrategyRule` (first match wins): the strategy config, overridable from JSON.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

logger = logging.getLogger(__name__)

VALUE_BANDS = ("low", "medium", "high", "key")
GRADES = ("AAA", "AA", "A", "B", "C", "unscored")
UNSCORED = "unscored"


@dataclass(frozen=True)
class StrategyRule:
    """One line of the strategy config; an empty tuple matches anything.

    ``segment_contains`` matches a substring of the segment name (``"winter heating"``).
    """

    strategy: str
    value_bands: tuple[str, ...] = ()
    grades: tuple[str, ...] = ()
    segment_contains: str | None = None

    def __post_init__(self) -> None:
        bad = [b for b in self.value_bands if b not in VALUE_BANDS] + [g for g in self.grades if g not in GRADES]
        if bad:
            raise ValueError(
                f"StrategyRule {self.strategy!r}: unknown bands/grades {bad}; expected {VALUE_BANDS} / {GRADES}"
            )

    def matches(self, segment_name: str, value_band: str, grade: str) -> bool:
        return (
            (not self.value_bands or value_band in self.value_bands)
            and (not self.grades or grade in self.grades)
            and (self.segment_contains is None or self.segment_contains in segment_name)
        )


DEFAULT_RULES: tuple[StrategyRule, ...] = (
    StrategyRule("key-account manager + payment plan", value_bands=("key",), grades=("B", "C")),
    StrategyRule("key-account manager", value_bands=("key",)),
    StrategyRule("prepayment offer", grades=("C",)),
    StrategyRule("payment reminder + budget plan", grades=("B",)),
    StrategyRule("green channel (priority service)", value_bands=("high",), grades=("AAA", "AA")),
    StrategyRule(
        "energy-efficiency advice (heating)", value_bands=("medium", "high"), segment_contains="winter heating"
    ),
    StrategyRule("energy-efficiency advice", value_bands=("high",)),
    StrategyRule("credit check at next bill", grades=(UNSCORED,), value_bands=("high", "medium")),
    StrategyRule("digital self-service", value_bands=("low",), grades=("AAA", "AA", "A")),
)
DEFAULT_STRATEGY = "standard service"
REPEAT_COMPLAINER_STRATEGY = "complaint case owner + call-back (repeat complainer)"


def load_rules(path: Path) -> tuple[StrategyRule, ...]:
    """Read a strategy config: a JSON list of ``{"strategy", "value_bands", "grades", "segment_contains"}``."""
    items = json.loads(Path(path).read_text())
    return tuple(
        StrategyRule(
            strategy=i["strategy"],
            value_bands=tuple(i.get("value_bands", ())),
            grades=tuple(i.get("grades", ())),
            segment_contains=i.get("segment_contains"),
        )
        for i in items
    )


def dump_rules(rules: tuple[StrategyRule, ...]) -> str:
    return json.dumps([asdict(r) for r in rules], indent=2)


class ValueCreditMatrix(BaseEstimator):
    """Value bands learned from consumption, crossed with arrears grades, mapped to strategies.

    Parameters
    ----------
    band_quantiles : tuple of 3 floats
        Quantiles of mean daily kWh separating low / medium / high / key.
    rules : tuple of StrategyRule, optional
        Ordered strategy config (default :data:`DEFAULT_RULES`).
    high_risk_grades : tuple of str
        Grades flagged ``is_high_risk``.
    default_strategy : str
        Strategy where no rule matches.
    """

    def __init__(
        self,
        *,
        band_quantiles: tuple[float, float, float] = (0.5, 0.8, 0.95),
        rules: tuple[StrategyRule, ...] | None = None,
        high_risk_grades: tuple[str, ...] = ("B", "C"),
        default_strategy: str = DEFAULT_STRATEGY,
    ):
        self.band_quantiles = band_quantiles
        self.rules = rules
        self.high_risk_grades = high_risk_grades
        self.default_strategy = default_strategy

    def fit(self, kwh_per_day: pd.Series | np.ndarray, y=None) -> ValueCreditMatrix:
        """Learn ``band_edges_`` (kWh/day) from the population's consumption."""
        q = np.asarray(self.band_quantiles, dtype=float)
        if q.shape != (3,) or np.any(np.diff(q) <= 0) or q[0] <= 0 or q[-1] >= 1:
            raise ValueError(f"band_quantiles={self.band_quantiles}; expected 3 increasing values in (0, 1)")
        values = np.asarray(kwh_per_day, dtype=float)
        values = values[np.isfinite(values)]
        if values.size == 0:
            raise ValueError("kwh_per_day has no finite value; expected the fitted customers' mean daily kWh")
        self.band_edges_ = np.quantile(values, q)
        self.rules_ = tuple(self.rules) if self.rules is not None else DEFAULT_RULES
        return self

    def value_band(self, kwh_per_day: pd.Series | np.ndarray) -> np.ndarray:
        """Band name per value; NaN consumption gets ``low`` (no evidence of value)."""
        values = np.nan_to_num(np.asarray(kwh_per_day, dtype=float), nan=0.0)
        return np.asarray(VALUE_BANDS, dtype=object)[np.searchsorted(self.band_edges_, values, side="right")]

    def strategy_for(self, segment_name: str, value_band: str, grade: str) -> str:
        """The first matching rule's strategy, else ``default_strategy``."""
        if value_band not in VALUE_BANDS:
            raise ValueError(f"value_band={value_band!r}; expected one of {VALUE_BANDS}")
        grade = grade if grade in GRADES else UNSCORED
        for rule in self.rules_:
            if rule.matches(segment_name, value_band, grade):
                return rule.strategy
        return self.default_strategy

    def assign(self, segments: pd.DataFrame, grades: pd.DataFrame | None = None) -> pd.DataFrame:
        """Value band, grade, flags and strategy per customer.

        Parameters
        ----------
        segments : DataFrame
            ``customer_id``, ``segment_name``, ``kwh_mean_day``.
        grades : DataFrame, optional
            Arrears scores with ``customer_id``, ``grade``; customers without one are ``unscored``.

        Returns
        -------
        DataFrame
            `segments` plus ``value_band``, ``grade``, ``is_key_account``, ``is_high_risk``, ``strategy``.
        """
        out = segments.copy()
        out["value_band"] = self.value_band(out["kwh_mean_day"])
        grade = pd.Series(UNSCORED, index=out.index, dtype=object)
        if grades is not None and len(grades):
            g = grades.groupby(grades["customer_id"].astype(str))["grade"].last()
            grade = out["customer_id"].astype(str).map(g).astype(object)
        out["grade"] = grade.where(grade.isin(GRADES), UNSCORED).fillna(UNSCORED).astype(str)
        out["is_key_account"] = out["value_band"].eq("key")
        out["is_high_risk"] = out["grade"].isin(self.high_risk_grades)
        combos = out[["segment_name", "value_band", "grade"]].drop_duplicates()
        combos["strategy"] = [self.strategy_for(*row) for row in combos.itertuples(index=False)]  # few combos
        out = out.merge(combos, on=["segment_name", "value_band", "grade"], how="left")
        if "is_repeat_complainer" in out:  # complaint profile (issue 22): a named handling before any other
            out.loc[out["is_repeat_complainer"].fillna(False).astype(bool), "strategy"] = REPEAT_COMPLAINER_STRATEGY
        return out

    def cells(self, assigned: pd.DataFrame) -> pd.DataFrame:
        """The matrix: customers and strategies per (value_band, grade) cell, in band and grade order."""
        grid = pd.MultiIndex.from_product([VALUE_BANDS, GRADES], names=["value_band", "grade"]).to_frame(index=False)
        counts = assigned.groupby(["value_band", "grade"], as_index=False).agg(
            customers=("customer_id", "size"),
            strategies=("strategy", lambda s: "; ".join(s.value_counts().index)),
        )
        out = grid.merge(counts, on=["value_band", "grade"], how="left")
        out["customers"] = out["customers"].fillna(0).astype(int)
        out["default_strategy"] = [
            self.strategy_for("", b, g) for b, g in zip(out["value_band"], out["grade"], strict=True)
        ]
        return out
