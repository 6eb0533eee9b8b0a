"""The results store under many writer processes at once (a study's cells finishing together on a shared
home): nothing lost, and SQLite's "database is locked" never reaches the user."""
import multiprocessing

import pytest

from harness.store.db import filesystem_type, journal_mode
from harness.store import MetricRow, RunRecord, SampleRow, open_store

WRITERS = 6
RUNS_EACH = 25
SAMPLES_EACH = 50


def _record(run_id: str) -> RunRecord:
    return RunRecord(run_id=run_id, task="vqa_scene", backbone="llama3", variant="tiny", vision="clip",
                     recipe="llava15", config={"seed": 0}, run_hash=f"r-{run_id}", training_hash="t",
                     controlled_hash="c")


def _writer(path, name, barrier, errors):
    try:
        barrier.wait(60)  # every writer opens (and so creates and migrates) the fresh store at the same moment
        with open_store(path) as store:
            for i in range(RUNS_EACH):
                run_id = f"{name}-{i}"
                store.add_run(_record(run_id), [MetricRow("vqa_scene", "exact_match", i / RUNS_EACH, primary=True)],
                              [SampleRow("vqa_scene", d, "red", "red", 1.0, 0.5) for d in range(SAMPLES_EACH)])
                assert store.run(run_id) is not None  # reads interleave with the other writers' transactions
                store.runs(task="vqa_scene")
    except BaseException as exc:  # the test reports what reached the "user"
        errors.put(f"{name}: {type(exc).__name__}: {exc}")
        raise


@pytest.mark.parametrize("journal", ["wal", "delete"])  # delete: the rollback journal used on network filesystems
def test_many_writer_processes_started_together_lose_nothing_and_never_see_a_locked_database(tmp_path, monkeypatch,
                                                                                           journal):
    monkeypatch.setenv("HARNESS_STORE_JOURNAL", journal)  # the spawned writers inherit it
    path = tmp_path / "home" / "results.sqlite"
    path.parent.mkdir()
    ctx = multiprocessing.get_context("spawn")
    barrier, errors = ctx.Barrier(WRITERS), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(path, f"w{n}", barrier, errors)) for n in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    seen = []
    while not errors.empty():
        seen.append(errors.get())
    assert seen == [] and [p.exitcode for p in procs] == [0] * WRITERS
    with open_store(path) as store:
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == journal
        runs = store.runs()
        assert len(runs) == WRITERS * RUNS_EACH
        assert {r.run_id for r in runs} == {f"w{n}-{i}" for n in range(WRITERS) for i in range(RUNS_EACH)}
        total = store.conn.execute("SELECT count(*) FROM samples").fetchone()[0]
        assert total == WRITERS * RUNS_EACH * SAMPLES_EACH


def test_the_journal_is_wal_on_a_local_disk_and_the_rollback_journal_on_a_network_filesystem(tmp_path, monkeypatch):
    monkeypatch.delenv("HARNESS_STORE_JOURNAL", raising=False)
    local = filesystem_type(tmp_path)
    assert local and journal_mode(tmp_path / "r.sqlite") == ("delete" if local in ("nfs", "nfs4") else "wal")
    monkeypatch.setattr("harness.store.db.filesystem_type", lambda path: "nfs4")
    assert journal_mode(tmp_path / "r.sqlite") == "delete"
