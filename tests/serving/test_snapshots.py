"""The snapshot watcher: re-reads only on change, keeps the last good snapshot, joins sibling feature tables."""

from __future__ import annotations

import pandas as pd

from serving.snapshots import Snapshot, SnapshotWatcher, read_snapshot_folder
from tests.serving.conftest import IDS, snapshot_frame, write_features


def test_watcher_keeps_the_previous_snapshot_when_the_new_one_is_unreadable(settings):
    watcher = SnapshotWatcher(settings.var_dir / "features" / "demo")
    good = watcher.current()
    assert isinstance(good, Snapshot) and len(good) == len(IDS) and good.units["late_bills_12m"] == "count"
    assert watcher.current() is good  # unchanged on disk: the same object, no re-read
    broken = settings.var_dir / "features" / "demo" / "2014-04-30"
    broken.mkdir()
    (broken / "profiles.parquet").write_bytes(b"not parquet")
    (settings.var_dir / "features" / "demo" / "latest").write_text("2014-04-30\n")
    assert watcher.current() is good


def test_sibling_feature_tables_join_the_profiles_by_customer(settings):
    folder = write_features(settings.var_dir, snapshot_frame(), as_of="2014-03-31")
    shapes = pd.DataFrame({"customer_id": ["C002", "C000", "ZZZ"], "shape_dow_mon": [1.1, 0.9, 5.0]})
    shapes.to_parquet(folder / "shapes.parquet")
    snapshot = read_snapshot_folder(folder)
    shape = snapshot.frame["shape_dow_mon"]  # rows follow the profiles; customers without shapes get NaN
    assert (shape.iloc[0], shape.iloc[2]) == (0.9, 1.1) and shape.drop(index=[0, 2]).isna().all()
    assert list(snapshot.index) == IDS and snapshot.as_of == "2014-03-31"


def test_fresh_turns_false_when_a_snapshot_is_written_and_true_once_read(settings):
    watcher = SnapshotWatcher(settings.var_dir / "features" / "demo")
    assert not watcher.fresh()  # never read
    first = watcher.current()
    assert watcher.fresh()
    write_features(settings.var_dir, snapshot_frame(bump=1.0), as_of="2014-03-31")
    assert not watcher.fresh()
    assert watcher.current().id != first.id and watcher.fresh()


def test_peek_answers_only_while_the_snapshot_in_memory_is_current(tmp_path):
    root = tmp_path / "features" / "demo"
    write_features(tmp_path, snapshot_frame())
    watcher = SnapshotWatcher(root)
    assert watcher.peek() is None  # never read
    first = watcher.current()
    assert watcher.peek() is first
    write_features(tmp_path, snapshot_frame(bump=1.0))
    assert watcher.peek() is None  # changed on disk: the caller reads it (off the event loop)
    assert watcher.current().id != first.id and watcher.peek() is not None
