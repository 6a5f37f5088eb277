"""Guardrails and the audit trail for a batch scoring run (I/O edge of :mod:`training.guardrails`)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from features.settings import DataSettings
from training.collections_settings import CollectionsSettings, load_collections_settings
from training.decisions import DecisionBatch, DecisionLog
from training.guardrails import GuardrailPolicy, guard_frame

logger = logging.getLogger(__name__)


def guard_and_record(
    scores: pd.DataFrame,
    customers: pd.DataFrame,
    data: DataSettings,
    *,
    day: pd.Timestamp,
    collections: CollectionsSettings | None = None,
) -> pd.DataFrame:
    """`scores` with guarded ``action`` / ``original_action`` / ``guardrail``, stored in the audit trail
    (one transaction, ``source="batch"``) before the caller writes its files; ``guarded_share`` logged.

    `day` is the day the run decides for (its as-of day): protected periods are checked against it.
    """
    collections = collections or load_collections_settings(data.data_dir)
    guarded = guard_frame(scores, customers, GuardrailPolicy(collections), day)
    n, hit = len(guarded), int(guarded["guardrail"].notna().sum())
    if collections.audit_enabled and n:
        reasons = [
            guarded[c] if c in guarded else pd.Series(None, index=guarded.index)
            for c in ("reason_1", "reason_2", "reason_3")
        ]
        batch = DecisionBatch(
            source="batch",
            tenant=data.tenant,
            model_version=str(guarded["model_version"].iloc[0]),
            snapshot_id=None,
            as_of=pd.Timestamp(day).strftime("%Y-%m-%d"),
            decision_day=pd.Timestamp(day).strftime("%Y-%m-%d"),
            columns={
                "customer_id": guarded["customer_id"].astype(str).to_numpy(dtype=object),
                "status": np.full(n, "ok", dtype=object),
                "probability": guarded["probability"].to_numpy(dtype=np.float64),
                "grade": guarded["grade"].to_numpy(dtype=object),
                "action": guarded["action"].to_numpy(dtype=object),
                "original_action": guarded["original_action"].to_numpy(dtype=object),
                "guardrail": guarded["guardrail"].to_numpy(dtype=object),
                **{
                    f"reason_{i + 1}": r.astype(object).where(r.notna(), None).to_numpy() for i, r in enumerate(reasons)
                },
            },
        )
        log = DecisionLog.open(collections.audit_url(data.var_dir), synchronous=collections.audit_synchronous)
        try:
            batch_id = log.record(batch)
        finally:
            log.close()
        logger.info("audit: batch %d, %d decisions", batch_id, n)
    logger.info("guardrails: %d of %d decisions guarded (%.1f %%)", hit, n, 100 * hit / max(n, 1))
    return guarded
