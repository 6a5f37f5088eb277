"""The feature snapshot serving scores by id: read once, swapped as one reference when a newer one appears.

A :class:`Snapshot` is immutable: the customer index, the feature columns (``profiles.parquet`` plus any
other ``<table>.parquet`` keyed by ``customer_id`` in the same folder) and each feature's declared unit
(from ``manifest.json``). :class:`SnapshotWatcher` notices a new or rewritten snapshot with two ``stat``
calls per request (the tenant's snapshot root and the current snapshot folder: ``write_snapshot`` moves
files into place with ``os.replace``, which changes both), and reads it again only then.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from features.snapshots import LATEST_FILE, MANIFEST_FILE, PROFILES_FILE

logger = logging.getLogger(__name__)


class IdIndexed:
    """Rows keyed by customer id through ``self.index`` (a ``pd.Index``): vectorised lookups by id."""

    index: pd.Index

    def lookup(self, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Positions (0 for unknown ids) and the known mask, in request order; no per-id Python."""
        if len(self.index) == 0:
            return np.zeros(len(ids), dtype=np.intp), np.zeros(len(ids), dtype=bool)
        if len(ids) == 1:  # one customer: the index's hash table, not a new Index per call (~10x cheaper)
            one = self.position(ids[0])
            return np.array([one or 0], dtype=np.intp), np.array([one is not None])
        pos = self.index.get_indexer(np.asarray(ids, dtype=object))
        known = pos >= 0
        return np.where(known, pos, 0), known

    def position(self, customer_id: str) -> int | None:
        try:
            loc = self.index.get_loc(customer_id)
        except KeyError:
            return None
        return loc if isinstance(loc, int | np.integer) else None


@dataclass(frozen=True)
class Snapshot(IdIndexed):
    """One feature snapshot in memory: row ``i`` of every column belongs to ``index[i]``."""

    id: str  # "<as_of>/<profile hash prefix>": changes when the snapshot is rebuilt, even for the same day
    as_of: str | None
    index: pd.Index
    frame: pd.DataFrame
    units: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.index)

    def missing(self, names: list[str]) -> list[str]:
        """Columns of `names` this snapshot lacks."""
        return [n for n in names if n not in self.frame.columns]

    def matrix(self, names: list[str]) -> np.ndarray:
        """Float64 matrix of `names` in that order, shape (n_customers, len(names)); null -> NaN."""
        return self.frame[names].to_numpy(dtype=np.float64, na_value=np.nan)


def read_snapshot_folder(folder: Path) -> Snapshot:
    """Read ``profiles.parquet`` (+ sibling feature tables keyed by ``customer_id``) and the manifest."""
    folder = Path(folder)
    profiles = pd.read_parquet(folder / PROFILES_FILE)
    profiles = profiles.drop_duplicates("customer_id", keep="last").reset_index(drop=True)
    ids = profiles["customer_id"].astype(str)
    for extra in sorted(folder.glob("*.parquet")):  # e.g. shapes.parquet beside the profiles
        if extra.name == PROFILES_FILE or extra.name.startswith("."):
            continue
        table = pd.read_parquet(extra)
        if "customer_id" not in table.columns:
            continue
        table = table.drop_duplicates("customer_id", keep="last").set_index(table["customer_id"].astype(str))
        new = [c for c in table.columns if c not in profiles.columns]
        profiles = pd.concat([profiles, table[new].reindex(ids.to_numpy()).reset_index(drop=True)], axis=1)
    manifest = {}
    if (folder / MANIFEST_FILE).exists():
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
    units = {str(f["name"]): str(f.get("unit", "")) for f in manifest.get("features", []) if "name" in f}
    as_of = manifest.get("as_of") or _day(folder.name)
    stamp = _stamp(folder / PROFILES_FILE)  # no manifest: the file's identity stands in for its hash
    digest = str(manifest.get("profile_hash") or "")[:12] or f"f{stamp[0]:x}.{stamp[1]:x}"
    index = pd.Index(ids.to_numpy(dtype=object), dtype=object)
    return Snapshot(id=f"{as_of or folder.name}/{digest}", as_of=as_of, index=index, frame=profiles, units=units)


def _day(name: str) -> str | None:
    day = pd.to_datetime(name, errors="coerce", format="%Y-%m-%d")
    return None if pd.isna(day) else day.strftime("%Y-%m-%d")


def current_folder(root: Path) -> Path | None:
    """The folder the ``latest`` pointer names, else the newest ``<YYYY-MM-DD>/`` holding profiles; or None."""
    pointer = root / LATEST_FILE
    try:
        folder = root / pointer.read_text().strip()
        if (folder / PROFILES_FILE).exists():
            return folder
    except (FileNotFoundError, NotADirectoryError):
        pass
    found = sorted(p.parent for p in root.glob(f"*/{PROFILES_FILE}") if _day(p.parent.name)) if root.exists() else []
    return found[-1] if found else None


def _stamp(path: Path | str | None) -> tuple[int, int]:
    """(inode, mtime): ``os.replace`` gives a file a new inode, so a rewrite shows even within one clock tick."""
    if path is None:
        return (-1, -1)
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1)
    return (st.st_ino, st.st_mtime_ns)


class SnapshotWatcher:
    """The current :class:`Snapshot` of one tenant's snapshot root, re-read only when it changed on disk."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._pointer = self.root / LATEST_FILE
        self._watched: tuple[Path | None, tuple[str | None, ...]] = (None, ())  # folder -> the paths to stat
        self._folder: Path | None = None
        self._key: tuple | None = None
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()

    def _stamp(self, folder: Path | None) -> tuple:
        """What changes when a snapshot is added, rewritten or re-pointed: the root (a new folder), the
        ``latest`` pointer and the folder's profiles and manifest."""
        watched, paths = self._watched
        if folder is not watched or not paths:  # paths as strings, built once per folder (checked per request)
            files = (None, None) if folder is None else (str(folder / PROFILES_FILE), str(folder / MANIFEST_FILE))
            paths = (str(self.root), str(self._pointer), *files)
            self._watched = (folder, paths)
        return tuple(_stamp(p) for p in paths)

    def fresh(self) -> bool:
        """Whether :meth:`current` would answer without reading anything (four ``stat`` calls)."""
        return self._stamp(self._folder) == self._key

    def peek(self) -> Snapshot | None:
        """The snapshot in memory if nothing changed on disk since it was read (four ``stat`` calls), else
        None: then :meth:`current` reads the new one (CPU and disk work: call it off the event loop)."""
        snapshot = self._snapshot
        if snapshot is not None and self._stamp(self._folder) == self._key:
            return snapshot
        return None

    def current(self) -> Snapshot | None:
        """The newest snapshot (None when there is none); four ``stat`` calls when nothing changed."""
        if self._stamp(self._folder) == self._key:
            return self._snapshot
        with self._lock:  # one reader re-reads; the others wait for it instead of reading it too
            if self._stamp(self._folder) == self._key:
                return self._snapshot
            folder = current_folder(self.root)
            key = self._stamp(folder)
            if folder != self._folder or self._snapshot is None or key != self._key:
                try:
                    self._snapshot = read_snapshot_folder(folder) if folder is not None else None
                except (OSError, ValueError, KeyError) as err:  # half-written or broken: keep the previous one
                    logger.error("feature snapshot %s unreadable (%s); keeping the previous one", folder, err)
                    self._folder, self._key = folder, key  # retried when the folder changes again
                    return self._snapshot
                if self._snapshot is not None:
                    logger.info("feature snapshot %s: %d customers", self._snapshot.id, len(self._snapshot))
            self._folder, self._key = folder, key
            return self._snapshot
