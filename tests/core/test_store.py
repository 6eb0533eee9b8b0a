"""The SQLite results store: atomic runs, migrations, concurrent writers, bad files."""
import multiprocessing
import sqlite3

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


def _writer(path, prefix, n):
    with open_store(path) as store:
        for i in range(n):
            store.add_run(record(f"{prefix}{i}"), [MetricRow("vqa_scene", "exact_match", i / n)],
                          [SampleRow("vqa_scene", d, "x", "x") for d in range(20)])


def test_two_processes_writing_at_once_lose_nothing(tmp_path):
    path = tmp_path / "r.sqlite"
    open_store(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, p, 40)) for p in ("p", "q")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with open_store(path) as store:
        runs = store.runs()
        assert len(runs) == 80
        assert sum(len(store.samples(r.run_id)) for r in runs) == 80 * 20


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
