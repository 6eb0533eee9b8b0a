"""The SQLite results store: atomic runs, migrations, concurrent writers, bad files."""
import contextlib
import multiprocessing
import queue
import sqlite3
import time

import pytest

from harness.errors import HarnessError
from harness.store import MetricRow, RunRecord, SampleRow, open_store
from harness.store.migrations import SCHEMA_VERSION


def record(run_id, backbone="llama3", task="vqa_scene", controlled="c0"):
    return RunRecord(run_id=run_id, task=task, backbone=backbone, variant="tiny", vision="clip", recipe="llava15",
                     config={"backbone": {"name": backbone}}, run_hash=f"r-{run_id}", training_hash=f"t-{backbone}",
                     controlled_hash=controlled)


def test_a_run_round_trips_with_metrics_and_samples(tmp_path):
    with open_store(tmp_path / "r.sqlite") as store:
        store.add_run(record("a"), [MetricRow("vqa_scene", "exact_match", 0.5, 0.01, primary=True)],
                      [SampleRow("vqa_scene", 3, "red", "red", 1.0, 0.9, {"qtype": "colour"})])
        assert store.run("a").config == {"backbone": {"name": "llama3"}}
        assert store.metrics("a")[0].primary and store.metrics("a")[0].stderr == 0.01
        assert store.samples("a")[0].extra == {"qtype": "colour"}
        assert store.schema_version() == SCHEMA_VERSION


def test_a_failing_write_leaves_no_half_run(tmp_path):
    with open_store(tmp_path / "r.sqlite") as store:
        duplicate_docs = [SampleRow("vqa_scene", 1, "a", "a"), SampleRow("vqa_scene", 1, "b", "b")]
        with pytest.raises(sqlite3.IntegrityError):
            store.add_run(record("a"), [MetricRow("vqa_scene", "exact_match", 0.5)], duplicate_docs)
        assert store.runs(status=None) == [] and store.metrics("a") == []


BUSY_TIMEOUT_MS = 5  # SQLite's own wait, far below one write: waiting out the others is the store's job


def _writer(path, prefix, runs, samples, start, windows):
    """Open the store when every writer is ready (concurrent creation and migration), then write runs
    big enough to hold the write lock for a while, recording when each write was asked for and done."""
    start.wait()
    with open_store(path) as store:
        # A short busy timeout, so SQLite's own wait hides nothing: a writer gets through only by the
        # store's immediate transactions and its retries.
        store.conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        for i in range(runs):
            began = time.monotonic()
            store.add_run(record(f"{prefix}{i}"), [MetricRow("vqa_scene", "exact_match", i / runs)],
                          [SampleRow("vqa_scene", d, "x" * 40, "x", extra={"i": d}) for d in range(samples)])
            windows.put((prefix, began, time.monotonic()))


def _race(path, writers, runs, samples):
    """Start the writers at a barrier; every write's (writer, asked, done) once all have exited cleanly."""
    ctx = multiprocessing.get_context("spawn")
    start, windows = ctx.Barrier(len(writers)), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(path, p, runs, samples, start, windows)) for p in writers]
    for p in procs:
        p.start()
    spans = []
    while len(spans) < len(writers) * runs and (any(p.is_alive() for p in procs) or not windows.empty()):
        with contextlib.suppress(queue.Empty):
            spans.append(windows.get(timeout=1))
    for p in procs:
        p.join(120)
        assert p.exitcode == 0, "a writer failed (its traceback is above)"
    return spans


def test_writers_started_together_overlap_and_lose_nothing(tmp_path):
    writers, runs, samples = ("p", "q", "r"), 5, 2000
    # The scheduler decides whether writes overlap (on a loaded 2-core machine one writer can finish before
    # the others start): race again on a fresh file until they did, checking every race loses nothing.
    for attempt in range(4):
        path = tmp_path / f"r{attempt}.sqlite"  # not created beforehand: the writers race to create and migrate it
        spans = _race(path, writers, runs, samples)
        with open_store(path) as store:
            stored = store.runs()
            assert len(stored) == len(writers) * runs
            assert all(len(store.samples(r.run_id)) == samples for r in stored)
        # The writes really overlapped: some write was asked for while another process's was under way.
        if any(a[0] != b[0] and a[1] < b[2] and b[1] < a[2] for a in spans for b in spans):
            break
    else:
        pytest.fail("in 4 races no write overlapped another: the test did not exercise concurrent writers")


def test_a_file_that_is_not_sqlite_is_refused(tmp_path):
    path = tmp_path / "r.sqlite"
    path.write_text("not a database")
    with pytest.raises(HarnessError, match="is not a harness results database"):
        open_store(path)
    assert path.read_text() == "not a database"


def test_a_newer_schema_version_is_refused(tmp_path):
    path = tmp_path / "r.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(HarnessError, match="newer than this harness understands"):
        open_store(path)


def test_a_foreign_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "r.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.commit()
    conn.close()
    with pytest.raises(HarnessError, match="tables of another program"):
        open_store(path)
