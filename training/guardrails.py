"""Vulnerable-customer guardrails: no collection action stronger than a reminder for a protected customer,
or in a protected period of the customer's region (pure, vectorised: no per-row Python).

A guarded row keeps its probability and grade; its ``action`` becomes the rule's stated alternative,
``guardrail`` names the rule (``"medical"``, ``"priority_services"``, ``"elderly"``, ``"low_income"``,
``"other"``, or the period's name, e.g. ``"winter_moratorium"``) and ``original_action`` keeps what the
grade alone would have done, for the audit trail. Customer rules win over periods; among customer rules
the first of :data:`~training.collections_settings.RULES` applies.

Invariants
----------
- A row whose action is mild (in ``mild_actions``) or null is never changed.
- A row is changed only when a customer flag or a period active on ``day`` in its region applies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.protection import PROTECTION_COLUMNS
from training.collections_settings import PERIOD_ALTERNATIVE, RULE_COLUMNS, RULES, CollectionsSettings, ProtectedPeriod


def protection_codes(customers: pd.DataFrame) -> np.ndarray:
    """Per row, 1 + the index in :data:`RULES` of the first rule that protects the customer, else 0 (int8).

    Missing columns and nulls mean "not protected"; ``protection_other`` protects when it holds text.
    """
    codes = np.zeros(len(customers), dtype=np.int8)
    for i in range(len(RULES) - 1, -1, -1):  # last rule first, so the first rule overwrites
        column = RULE_COLUMNS[RULES[i]]
        if column not in customers:
            continue
        values = customers[column]
        if RULES[i] == "other":
            on = values.notna().to_numpy() & (values.astype(str).str.strip().str.len() > 0).to_numpy()
        else:
            on = values.fillna(False).to_numpy(dtype=bool)
        codes[on] = i + 1
    return codes


def active_on(period: ProtectedPeriod, day: pd.Timestamp) -> bool:
    """Whether `period` covers `day` (inclusive ends; a recurring ``MM-DD`` period may wrap over New Year)."""
    day = pd.Timestamp(day)
    if not period.recurring:
        return pd.Timestamp(period.start) <= day.normalize() <= pd.Timestamp(period.end)
    md = day.month * 100 + day.day
    start = int(period.start.replace("-", ""))
    end = int(period.end.replace("-", ""))
    return start <= md <= end if start <= end else (md >= start or md <= end)


def period_codes(periods: tuple[ProtectedPeriod, ...], regions: pd.Index, day: pd.Timestamp) -> np.ndarray:
    """For each of `regions` (distinct region names), 1 + the index of the first period active on `day`
    that covers it, else 0 (int16). Cost: periods x distinct regions, independent of the rows."""
    codes = np.zeros(len(regions), dtype=np.int16)
    names = regions.to_numpy(dtype=object)
    for i, period in enumerate(periods):
        if not active_on(period, day):
            continue
        covers = np.ones(len(names), bool) if "*" in period.regions else np.isin(names, list(period.regions))
        codes[covers & (codes == 0)] = i + 1
    return codes


@dataclass(frozen=True)
class Guarded:
    """Columns after the guardrails (object arrays, one per row)."""

    action: np.ndarray
    original_action: np.ndarray  # the grade's action where a guardrail replaced it, else None
    guardrail: np.ndarray  # the rule or period name where applied, else None

    @property
    def count(self) -> int:
        return int(np.count_nonzero(self.guardrail != None))  # noqa: E711 (elementwise on object arrays)


class GuardrailPolicy:
    """The tenant's guardrails as lookup tables: rule/period code -> name and alternative action."""

    def __init__(self, settings: CollectionsSettings):
        self.settings = settings
        self.periods = tuple(settings.protected_periods)
        alternatives = settings.guardrail_alternatives
        period_alts = [p.alternative or PERIOD_ALTERNATIVE.format(name=p.name) for p in self.periods]
        self.labels = np.array([None, *RULES, *(p.name for p in self.periods)], dtype=object)
        self.alternatives = np.array([None, *(alternatives[r] for r in RULES), *period_alts], dtype=object)
        self.mild = np.array(list(settings.mild_actions), dtype=object)
        self._mild_set = frozenset(settings.mild_actions)
        self._periods_cache: tuple[pd.Timestamp, pd.Index, np.ndarray] | None = None

    def strong(self, actions: np.ndarray) -> np.ndarray:
        """Rows whose action is stronger than a reminder (not mild and not null). One elementwise
        comparison per mild action (a handful): no index is built per call."""
        actions = np.asarray(actions, dtype=object)
        mild = np.zeros(len(actions), dtype=bool)
        for action in self.mild:
            mild |= actions == action
        return ~mild & pd.notna(actions)

    def code_one(self, action: object, protection: int, region: int, regions: pd.Index, day: pd.Timestamp) -> int:
        """:meth:`apply` for one row, in plain Python: the index into ``labels`` / ``alternatives`` of the
        rule that replaces `action` (0: none does)."""
        if action is None or action != action or action in self._mild_set:  # null, NaN or mild: untouched
            return 0
        if protection > 0:
            return protection
        period = int(self.region_periods(regions, day)[region])  # -1 (unknown region) -> the trailing 0
        return period + len(RULES) if period > 0 else 0

    def region_periods(self, regions: pd.Index, day: pd.Timestamp) -> np.ndarray:
        """:func:`period_codes` of `regions` on `day`, plus a trailing 0 for unknown regions (code -1);
        kept for the last (day, regions) pair, so a service pays for it once a day and snapshot."""
        cached = self._periods_cache
        if cached is not None and cached[0] == day and cached[1] is regions:
            return cached[2]
        codes = np.append(period_codes(self.periods, regions, day), 0).astype(np.int16)
        self._periods_cache = (day, regions, codes)
        return codes

    def apply(
        self,
        actions: np.ndarray,
        protection: np.ndarray,
        region_codes: np.ndarray,
        regions: pd.Index,
        day: pd.Timestamp,
    ) -> Guarded:
        """Guard `actions` (one per row).

        Parameters
        ----------
        actions : ndarray of object, shape (n,)
            The grade's collection action per row (None where there is no score).
        protection : ndarray of int, shape (n,)
            :func:`protection_codes` per row (0: no customer rule).
        region_codes : ndarray of int, shape (n,)
            Position of each row's region in `regions`; -1 for an unknown region (no period applies).
        regions : pandas.Index
            Distinct region names.
        day : pandas.Timestamp
            The day the action would be taken (periods are checked against it).
        """
        actions = np.asarray(actions, dtype=object)
        n_rules = len(RULES)
        by_region = self.region_periods(regions, day)  # -1 -> the trailing 0
        period = by_region.take(np.asarray(region_codes, dtype=np.intp), mode="wrap")
        code = np.where(protection > 0, protection, np.where(period > 0, period + n_rules, 0)).astype(np.intp)
        applied = (code > 0) & self.strong(actions)
        code = np.where(applied, code, 0)
        guardrail = self.labels.take(code)
        return Guarded(
            action=np.where(applied, self.alternatives.take(code), actions),
            original_action=np.where(applied, actions, None),
            guardrail=guardrail,
        )


def guard_frame(
    scores: pd.DataFrame, customers: pd.DataFrame, policy: GuardrailPolicy, day: pd.Timestamp
) -> pd.DataFrame:
    """`scores` (``customer_id``, ``action``, ...) with guarded ``action``, ``original_action`` and
    ``guardrail`` columns, protection and region read from `customers` (batch scoring; pure)."""
    cols = [c for c in PROTECTION_COLUMNS if c in customers.columns]
    info = customers[["customer_id", *cols]].drop_duplicates("customer_id").set_index("customer_id")
    info = info.reindex(scores["customer_id"].astype(str).to_numpy())
    region = info["region"] if "region" in info else pd.Series(np.nan, index=info.index, dtype=object)
    codes, regions = pd.factorize(region, use_na_sentinel=True)
    out = policy.apply(scores["action"].to_numpy(dtype=object), protection_codes(info), codes, regions, day)
    index = scores.index
    return scores.assign(  # object columns: a null stays None (pandas would infer str and turn it into NaN)
        action=pd.Series(out.action, index=index, dtype=object),
        original_action=pd.Series(out.original_action, index=index, dtype=object),
        guardrail=pd.Series(out.guardrail, index=index, dtype=object),
    )
