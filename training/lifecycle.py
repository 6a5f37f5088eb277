"""Promotion glue shared by the arrears and segments jobs: judge with the one rule, then apply it.

- :func:`data_id`: a short hash naming one held-out data set (its row ids and labels), so two scores can
  be checked to come from the same rows.
- :func:`judge`: :func:`training.promotion.decide` with the tenant's margin and maximum champion age; a
  champion that exists but could not be re-scored on the challenger's held-out data is a refusal, never a
  free pass (nor a crash after registration).
- :func:`apply_decision`: decision tags on the registered version, the alias move and, when promoted, the
  exported fallback bundle -- the only registry calls of a promotion.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import pandas as pd

from training import registry
from training.promotion import Decision, Scored, decide
from training.settings import TrainingSettings

logger = logging.getLogger(__name__)


def data_id(*columns: pd.Series | pd.Index) -> str:
    """12 hex digits identifying held-out rows by their values (order kept); equal rows, equal id."""
    digest = hashlib.sha256()
    for col in columns:
        digest.update(pd.util.hash_pandas_object(pd.Series(col).reset_index(drop=True), index=False).to_numpy())
    return digest.hexdigest()[:12]


def judge(
    challenger: Scored,
    champion: Scored | None,
    *,
    training: TrainingSettings,
    has_champion: bool,
    baseline: Scored | None = None,
    force: bool = False,
) -> Decision:
    """The promotion decision for `challenger` (see :func:`training.promotion.decide`).

    A champion that exists (`has_champion`) but is ``None`` here could not be scored on the challenger's
    held-out data: the challenger is refused (unless `force`), with that reason.
    """
    try:
        return decide(
            challenger,
            champion,
            margin=training.promote_margin,
            max_age_days=training.promote_max_age_days,
            baseline=baseline,
            force=force,
            has_champion=has_champion,
        )
    except ValueError as err:
        logger.warning("promotion refused: %s", err)
        return Decision(False, f"refused: {err}", None, challenger, champion, baseline)


def apply_decision(
    reg: registry.Registry,
    kind: str,
    decision: Decision,
    *,
    training: TrainingSettings,
    bundle: Any,
    meta: dict[str, Any] | None = None,
) -> bool:
    """Tag the version with the decision, move ``champion`` (or ``challenger``) and export when promoted."""
    version = str(decision.challenger.version)
    limits = {"max_age_days": str(training.promote_max_age_days), "margin": f"{training.promote_margin}"}
    tags = decision.tags() | limits
    reg.set_version_tags(kind, version, tags)
    value = decision.challenger.value
    # promote_if_better moves `champion` when the champion score is None, else sets `challenger`
    reg.promote_if_better(kind, version, value, None if decision.promote else value)
    if decision.promote:
        reg.export_bundle(kind, bundle, version, training.models_dir, {**(meta or {}), **tags})
    logger.info("%s v%s: %s (%s)", kind, version, "champion" if decision.promote else "challenger", decision.reason)
    return decision.promote
