"""One promotion rule for every model kind: champion and challenger scored on the same held-out data.

Pure decision logic; the jobs score both models and :mod:`training.registry` moves the alias.

Invariants
----------
- Both scores come from the *same* newest held-out data (same ``data_id``); a champion scored on other
  data is re-scored by the caller, and a missing champion score is never a free pass (``ValueError``).
- The challenger must improve on the champion by a relative ``margin`` (default 1 %, see
  :data:`DEFAULT_MARGIN`). With no champion, it must beat the baseline (e.g. seasonal naive, a logistic
  model, k=1) when one is given.
- A champion older than ``max_age_days`` (its training cut-off against the challenger's) is replaced by a
  challenger that is no worse than it by more than the margin: an old model keeps no advantage for age.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

#: Default relative margin. 1 % of the champion's score: gains smaller than this are within the spread we
#: see between retrains of the same model on the same data with other seeds, so they are not evidence.
DEFAULT_MARGIN = 0.01
#: Default maximum champion age in days (training cut-off to the challenger's cut-off).
DEFAULT_MAX_AGE_DAYS = 180


@dataclass(frozen=True)
class Scored:
    """One model's score on one held-out data set.

    ``data_id`` identifies the held-out data (a hash of its rows or of the windows); ``as_of`` is the
    model's training cut-off, used for the age rule.
    """

    version: str | None
    metric: str
    value: float
    higher_is_better: bool
    data_id: str
    as_of: pd.Timestamp | None = None


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    improvement: float | None
    challenger: Scored
    champion: Scored | None = None
    baseline: Scored | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def tags(self) -> dict[str, str]:
        """Version tags to log with the decision (strings only, MLflow-ready)."""
        out = {
            "promotion": "champion" if self.promote else "challenger",
            "promotion_reason": self.reason,
            "promotion_metric": self.challenger.metric,
            f"heldout_{self.challenger.metric}": f"{self.challenger.value:.6g}",
            "heldout_data_id": self.challenger.data_id,
        }
        if self.champion is not None:
            out[f"champion_{self.champion.metric}"] = f"{self.champion.value:.6g}"
            out["champion_version"] = str(self.champion.version)
        if self.baseline is not None:
            out[f"baseline_{self.baseline.metric}"] = f"{self.baseline.value:.6g}"
        if self.improvement is not None:
            out["improvement"] = f"{self.improvement:.6g}"
        return {**out, **self.extra}


def relative_improvement(challenger: Scored, reference: Scored) -> float:
    """How much better the challenger is, as a fraction of the reference's score (negative = worse)."""
    if challenger.metric != reference.metric or challenger.higher_is_better != reference.higher_is_better:
        raise ValueError(f"cannot compare {challenger.metric!r} with {reference.metric!r}")
    if challenger.data_id != reference.data_id:
        raise ValueError(
            f"scores come from different data ({challenger.data_id!r} vs {reference.data_id!r}); "
            "re-score the reference on the challenger's held-out data"
        )
    gain = challenger.value - reference.value
    if not challenger.higher_is_better:
        gain = -gain
    scale = abs(reference.value)
    return gain / scale if scale > 1e-12 else math.copysign(math.inf, gain) if gain else 0.0


def decide(
    challenger: Scored,
    champion: Scored | None,
    *,
    margin: float = DEFAULT_MARGIN,
    max_age_days: int | None = DEFAULT_MAX_AGE_DAYS,
    baseline: Scored | None = None,
    force: bool = False,
    has_champion: bool | None = None,
) -> Decision:
    """Promote `challenger` over `champion` only if it beats it by `margin` on the same held-out data.

    `has_champion` (default: ``champion is not None``) says whether a champion exists; when it exists but
    `champion` is ``None`` (not re-scored), a ``ValueError`` is raised: no free pass.
    """
    if margin < 0:
        raise ValueError(f"margin={margin}; expected >= 0")
    if not math.isfinite(challenger.value):
        return Decision(False, f"challenger {challenger.metric} is not finite", None, challenger, champion, baseline)
    exists = champion is not None if has_champion is None else has_champion
    if exists and champion is None and not force:
        raise ValueError("a champion exists but was not scored on the challenger's held-out data")
    if force:
        return Decision(True, "forced", None, challenger, champion, baseline)
    if baseline is not None:
        vs_base = relative_improvement(challenger, baseline)
        if vs_base <= 0:
            reason = f"does not beat the baseline ({vs_base:+.2%})"
            return Decision(False, reason, vs_base, challenger, champion, baseline)
    if champion is None:
        return Decision(True, "no champion yet", None, challenger, None, baseline)
    gain = relative_improvement(challenger, champion)
    aged = (
        max_age_days is not None
        and champion.as_of is not None
        and challenger.as_of is not None
        and (pd.Timestamp(challenger.as_of) - pd.Timestamp(champion.as_of)).days > max_age_days
    )
    if gain >= margin:
        reason = f"beats champion by {gain:+.2%} (margin {margin:.2%})"
        return Decision(True, reason, gain, challenger, champion, baseline)
    if aged and gain >= -margin:
        return Decision(
            True, f"champion older than {max_age_days} days; challenger within margin ({gain:+.2%})",
            gain, challenger, champion, baseline,
        )  # fmt: skip
    return Decision(False, f"improvement {gain:+.2%} below margin {margin:.2%}", gain, challenger, champion, baseline)
