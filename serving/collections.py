"""The collections desk of the API: guardrails on every arrears answer, then the audit record, then the reply.

:func:`decide` is the one call the arrears routes make on their way out: it replaces any action stronger
than a reminder for a protected customer or period (``guardrail``, ``original_action``), stores the
decisions in the audit database (the answers of one event-loop turn in one transaction,
:mod:`serving.audit_group`), and only then hands the answer back to be sent, so nothing acknowledged is
missing from ``GET /v1/decisions``. The protection of every customer of the
current snapshot (flags and region from the snapshot's ``protection.parquet``) is coded once per snapshot;
per request the work is one vectorised lookup, a few ``numpy`` ops and one insert.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from starlette.concurrency import run_in_threadpool

from features.errors import MeterwiseError
from features.settings import DataSettings
from serving.audit_group import GroupCommit, collecting, queue
from serving.settings import ServingSettings
from serving.snapshots import Snapshot
from training.cold_start import arrears_priors
from training.collections_settings import CollectionsSettings, load_collections_settings
from training.decisions import DecisionBatch, DecisionLog
from training.guardrails import Guarded, GuardrailPolicy, protection_codes

logger = logging.getLogger(__name__)
INLINE_ROWS = 256  # up to this many rows the desk works on the event loop (a thread hop costs more)
NO_REGIONS = pd.Index([], dtype=object)


class AuditUnavailable(MeterwiseError):
    """The audit database refused the write: the decision is not served (503), never served unrecorded."""

    code = "audit_unavailable"


@dataclass(frozen=True)
class ColdStart:
    """Per snapshot row: the peers' prior probability (NaN: none) and its basis, for one model version."""

    key: str
    prior: np.ndarray
    basis: np.ndarray


@dataclass(frozen=True)
class Protection:
    """Per snapshot row: protection rule code and region code; the distinct regions."""

    snapshot_id: str
    codes: np.ndarray
    region_codes: np.ndarray
    regions: pd.Index

    @classmethod
    def of(cls, snapshot: Snapshot) -> Protection:
        frame = snapshot.frame
        region = frame["region"] if "region" in frame else pd.Series(np.nan, index=frame.index, dtype=object)
        region_codes, regions = pd.factorize(region, use_na_sentinel=True)
        return cls(snapshot.id, protection_codes(frame), region_codes.astype(np.intp), pd.Index(regions))


class CollectionsDesk:
    """Guardrail policy, per-snapshot protection codes and the (lazily opened) audit log of one app."""

    def __init__(
        self,
        settings: ServingSettings,
        collections: CollectionsSettings | None = None,
        *,
        clock: Callable[[], dt.datetime] | None = None,
    ):
        self.settings = settings
        if collections is None:
            collections = load_collections_settings(DataSettings(tenant=settings.tenant).data_dir)
        self.collections = collections
        self.policy = GuardrailPolicy(collections)
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._protection: Protection | None = None
        self._cold: ColdStart | None = None
        self._log: DecisionLog | None = None
        self._lock = threading.Lock()
        self.group = GroupCommit(self.commit)  # the answers decided on the event loop, one commit per turn

    @property
    def log(self) -> DecisionLog:
        """The audit log, opened (and migrated) on first use."""
        if self._log is None:
            with self._lock:
                if self._log is None:
                    url = self.collections.audit_url(self.settings.var_dir)
                    try:
                        self._log = DecisionLog.open(
                            url, synchronous=self.collections.audit_synchronous, defer_rows=INLINE_ROWS
                        )  # a larger batch commits one payload row; its decision rows follow in the background
                    except Exception as err:
                        raise AuditUnavailable(f"audit database unavailable: {type(err).__name__}") from err
        return self._log

    def protection(self, snapshot: Snapshot) -> Protection:
        cached = self._protection
        if cached is None or cached.snapshot_id != snapshot.id:
            cached = self._protection = Protection.of(snapshot)
        return cached

    def cold_start(self, snapshot: Snapshot, live: Any) -> ColdStart | None:
        """Peers' priors for every row of `snapshot` from the live scores (cached per snapshot and version)."""
        keys = tuple(k for k in self.collections.cold_start_keys if k in snapshot.frame.columns)
        if not self.collections.cold_start or not keys or live is None:
            return None
        key = f"{snapshot.id}|{live.version}"
        cached = self._cold
        if cached is None or cached.key != key:
            prior, basis = arrears_priors(
                snapshot.frame[list(keys)],
                np.asarray(live.columns["probability"], dtype=float),
                live.usable,
                keys=keys,
                min_peers=self.collections.cold_start_min_peers,
            )
            cached = self._cold = ColdStart(key, prior, basis)
        return cached

    def fill_cold_start(
        self, cols: dict, snapshot: Snapshot | None, live: Any, grader: Any, found: tuple | None = None
    ) -> int:
        """Rows ``insufficient_features`` of customers known to the snapshot get the peers' prior
        (status ``cold_start``, grade and action from the model's bands, ``cold_start`` = the basis)."""
        ids = cols.get("customer_id")
        if snapshot is None or ids is None or grader is None or live is None or live.snapshot.id != snapshot.id:
            return 0
        status = np.asarray(cols["status"], dtype=object)
        todo = status == "insufficient_features"
        if not todo.any():
            return 0
        cold = self.cold_start(snapshot, live)
        if cold is None:
            return 0
        pos, known = found or snapshot.lookup(ids)
        prior = np.where(known, cold.prior.take(pos), np.nan)
        fill = todo & ~np.isnan(prior)
        if not fill.any():
            return 0
        grades, actions = grader(prior[fill])
        probability = np.asarray(cols["probability"], dtype=float).copy()
        grade, action = np.asarray(cols["grade"], dtype=object).copy(), np.asarray(cols["action"], dtype=object).copy()
        probability[fill], grade[fill], action[fill] = prior[fill], grades, actions
        status[fill] = "cold_start"
        basis = np.full(len(status), None, dtype=object)
        basis[fill] = cold.basis.take(pos[fill])
        cols.update(status=status.tolist(), probability=probability, grade=grade.tolist(), action=action.tolist())
        cols["cold_start"] = basis.tolist()
        return int(fill.sum())

    def guard(
        self,
        snapshot: Snapshot | None,
        ids: list[str] | None,
        actions: Any,
        day: pd.Timestamp,
        found: tuple | None = None,
    ) -> Guarded:
        """Guardrails for `actions` of the customers `ids` (None: features without ids; periods for every
        region only)."""
        actions = np.asarray(actions, dtype=object)
        n = len(actions)
        if snapshot is None or ids is None:
            no_region = np.full(n, -1, dtype=np.intp)
            return self.policy.apply(actions, np.zeros(n, np.int8), no_region, NO_REGIONS, day)
        prot = self.protection(snapshot)
        pos, known = found or snapshot.lookup(ids)
        codes = np.where(known, prot.codes.take(pos), 0)
        region_codes = np.where(known, prot.region_codes.take(pos), -1)
        return self.policy.apply(actions, codes, region_codes, prot.regions, day)

    def apply(
        self, out: dict[str, Any], snapshot: Snapshot | None, live: Any = None, grader: Any = None
    ) -> dict[str, Any]:
        """Cold-start, guard and record one answer (``results`` columns for a batch, flat fields for one
        customer). `live` (the arrears runtime's live scores) and `grader` (its ``grade``) enable cold start."""
        now = self.clock()
        day = pd.Timestamp(now.date())
        single = "results" not in out
        if single and out.get("status") != "insufficient_features":  # no cold start: the scalar path
            return self._apply_one(out, snapshot, now, day)
        if not single and _one_row(out):  # a batch of one row (one customer's features): the scalar path
            return self._apply_row(out, snapshot, now, day)
        cols = {k: [v] for k, v in out.items()} if single else out["results"]
        ids = cols.get("customer_id")
        found = snapshot.lookup(ids) if snapshot is not None and ids is not None else None  # once per request
        by_snapshot = out.get("source", "snapshot") == "snapshot"
        cold = self.fill_cold_start(cols, snapshot, live, grader, found) if by_snapshot else 0
        guarded = self.guard(snapshot, ids, cols["action"], day, found)
        cols["action"] = guarded.action.tolist()
        cols["original_action"] = guarded.original_action.tolist()
        cols["guardrail"] = guarded.guardrail.tolist()
        batch_id = self._record(out, cols, ids, now, day) if self.collections.audit_enabled else None
        if single:
            fields = ("status", "probability", "grade", "action", "original_action", "guardrail")
            single_out = {**out, **{k: cols[k][0] for k in fields}, "decision_batch_id": batch_id}
            return {**single_out, "cold_start": cols.get("cold_start", [None])[0]}
        if cold:
            counts = dict(out["status_counts"])
            counts["insufficient_features"] -= cold
            counts["cold_start"] = cold
            out = {**out, "status_counts": counts}
        return {**out, "guarded_count": guarded.count, "decision_batch_id": batch_id}

    def _apply_one(self, out: dict[str, Any], snapshot: Snapshot | None, now: dt.datetime, day: pd.Timestamp) -> dict:
        """:meth:`apply` for one customer's answer, in plain Python (numpy's per-call overhead on one-element
        arrays cost more than the whole decision); the same rules as :meth:`GuardrailPolicy.apply`."""
        cols = self._decide_one(
            out, {k: [out.get(k)] for k in ("status", "probability", "grade", "reasons")}, snapshot, now, day
        )
        flat = {k: cols[k][0] for k in ("action", "original_action", "guardrail")}
        return {**out, **flat, "decision_batch_id": cols["batch_id"], "cold_start": None}

    def _apply_row(self, out: dict[str, Any], snapshot: Snapshot | None, now: dt.datetime, day: pd.Timestamp) -> dict:
        """:meth:`apply` for a batch of one row without cold start, through the scalar path."""
        results = out["results"]
        row = {k: (v[0] if v is not None else None) for k, v in results.items()}
        cols = {k: [row.get(k)] for k in ("status", "probability", "grade")}
        cols["reasons"] = None if results.get("reasons") is None else [row["reasons"]]
        cols = self._decide_one({**out, **row}, cols, snapshot, now, day)
        guarded = {k: cols[k] for k in ("action", "original_action", "guardrail")}
        count = int(cols["guardrail"][0] is not None)
        return {**out, "results": {**results, **guarded}, "guarded_count": count, "decision_batch_id": cols["batch_id"]}

    def _decide_one(
        self, out: dict, cols: dict, snapshot: Snapshot | None, now: dt.datetime, day: pd.Timestamp
    ) -> dict:
        """Guard and record one answer (`out`: its flat fields; `cols`: status, probability, grade and reasons
        as one-element lists); `cols` with the action, original action, guardrail and ``batch_id``."""
        action, protection, region = out["action"], 0, -1
        pos = None if snapshot is None or out.get("customer_id") is None else snapshot.position(out["customer_id"])
        if pos is not None:
            prot = self.protection(snapshot)
            protection, region = int(prot.codes[pos]), int(prot.region_codes[pos])
            regions = prot.regions
        else:
            regions = NO_REGIONS
        code = self.policy.code_one(action, protection, region, regions, day)
        cols.update(
            action=[self.policy.alternatives[code] if code else action],
            original_action=[action if code else None],
            guardrail=[self.policy.labels[code]],
        )
        ids = [out.get("customer_id")]
        cols["batch_id"] = self._record(out, cols, ids, now, day) if self.collections.audit_enabled else None
        return cols

    def _record(self, out: dict, cols: dict, ids: list | None, now: dt.datetime, day: pd.Timestamp) -> int | None:
        n = len(cols["status"])
        reasons = cols.get("reasons")
        if n == 1:  # one answer: plain lists (numpy's set-up costs more than the row)
            r = [*((reasons or [None])[0] or []), None, None, None][:3]
            triples = [[r[0]], [r[1]], [r[2]]]
        else:
            block = np.full((n, 3), None, dtype=object)
            if reasons is not None and n:
                try:
                    block[:] = reasons  # [reason_1, reason_2, reason_3] per row
                except ValueError:  # rows with fewer than three reasons
                    block[:] = [(list(r or []) + [None] * 3)[:3] for r in reasons]
            triples = [block[:, 0], block[:, 1], block[:, 2]]
        batch = DecisionBatch(
            source="api",
            tenant=self.settings.tenant,
            model_version=str(out["model_version"]),
            snapshot_id=out.get("snapshot_id"),
            as_of=out.get("as_of"),
            decision_day=day.strftime("%Y-%m-%d"),
            columns={
                "customer_id": ids if ids is not None else [None] * n,
                "status": cols["status"],
                "probability": _probabilities(cols["probability"], n),
                "grade": cols["grade"],
                "action": cols["action"],
                "original_action": cols["original_action"],
                "guardrail": cols["guardrail"],
                "reason_1": triples[0],
                "reason_2": triples[1],
                "reason_3": triples[2],
            },
        )
        if queue(batch, now):  # the route commits it with the other answers of this loop turn
            return None
        return self.commit([(batch, now)])[0]

    def commit(self, items: list[tuple[DecisionBatch, dt.datetime]]) -> list[int]:
        """Write decision batches in one transaction; AuditUnavailable (503) when the database refuses."""
        try:
            return self.log.record_many(items)
        except AuditUnavailable:
            raise
        except Exception as err:
            n = sum(len(batch) for batch, _ in items)
            logger.error("audit write failed (%d decisions not served): %s", n, err)
            raise AuditUnavailable(f"audit database refused the write: {type(err).__name__}") from err


def _one_row(out: dict[str, Any]) -> bool:
    """A batch answer of one row that cold start cannot change (scored from features, or not
    ``insufficient_features``)."""
    status = out["results"]["status"]
    return len(status) == 1 and (out.get("source") == "features" or status[0] != "insufficient_features")


def _probabilities(values: Any, n: int) -> Any:
    """Probabilities for the record: one as a plain list (NaN -> None), many as float64."""
    if n == 1:
        p = values[0]
        return [None if p is None or p != p else float(p)]
    return np.asarray(values, dtype=np.float64)


async def decide(svc: Any, out: dict[str, Any], live: Any = None, runtime: Any = None) -> dict[str, Any]:
    """Guard `out` (an arrears answer, single or batch) and store it in the audit trail before it is sent.

    The one call of the arrears routes; a service without a desk (``svc.collections`` None) answers as is.
    A by-id route passes the `live` answers (and the `runtime`) it used, so their snapshot is not looked
    up again (each look is four ``stat`` calls)."""
    desk: CollectionsDesk | None = getattr(svc, "collections", None)
    if desk is None:
        return out
    store = svc.store
    snapshot = grader = None
    if live is not None:  # by id: the snapshot these answers were computed on, and their cold start
        snapshot, grader = live.snapshot, getattr(runtime.bundle, "grade", None)
    elif out.get("results", out).get("customer_id") is not None:  # features with ids: the flags of the ids
        watcher = getattr(store, "snapshots", None)
        snapshot = watcher.current() if watcher is not None else None
    rows = len(out["results"]["status"]) if "results" in out else 1
    if rows > INLINE_ROWS:
        return await run_in_threadpool(desk.apply, out, snapshot, live, grader)
    with collecting() as queued:  # on the loop: recorded with the other answers of this turn (group commit)
        answer = desk.apply(out, snapshot, live, grader)
    if queued:
        answer["decision_batch_id"] = await desk.group.record(queued[0])
    return answer
