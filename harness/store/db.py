"""SQLite results store: versioned schema with migrations, one transaction per run so a crash never
leaves half a run, and safe concurrent writers (immediate transactions, waiting out a busy database).

WAL mode on a local disk; on a network filesystem (NFS, Lustre, GPFS...), where WAL's shared memory does
not work across hosts, the rollback journal (``HARNESS_STORE_JOURNAL=wal|delete`` overrides the choice).
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.store.migrations import MIGRATIONS, SCHEMA_VERSION
from harness.store.records import MetricRow, RunRecord, SampleRow

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_WAIT_S = 600.0  # how long a writer waits out the others before saying so (SQLite's own timeout is per call)
NETWORK_FILESYSTEMS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "ceph", "glusterfs",
                       "fuse.glusterfs", "fuse.sshfs", "9p", "afs", "panfs", "wekafs"}


def filesystem_type(path: Path) -> str:
    """The type of the filesystem holding ``path`` (from /proc/mounts; '' where unknown)."""
    target, best, kind = str(Path(path).resolve()), "", ""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return ""
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, fields[2]
    return kind


def journal_mode(path: Path) -> str:
    """``wal`` on a local disk, ``delete`` (rollback journal) on a network filesystem."""
    chosen = os.environ.get("HARNESS_STORE_JOURNAL", "").strip().lower()
    if chosen in ("wal", "delete"):
        return chosen
    if chosen:
        raise HarnessError(f"HARNESS_STORE_JOURNAL={chosen} is not a journal mode", "use wal or delete, or unset it")
    return "delete" if filesystem_type(path.parent) in NETWORK_FILESYSTEMS else "wal"


def _busy(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and any(w in str(exc).lower() for w in ("locked", "busy"))


def open_store(path: Path) -> "ResultsStore":
    """Open (creating and migrating as needed) the results store at ``path``."""
    return ResultsStore(path)


class ResultsStore:
    """Runs, metrics and samples in one SQLite file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._check_file()
        mode = journal_mode(self.path)
        self.conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        try:
            self._query(f"PRAGMA journal_mode={mode.upper()}")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise self._not_a_store(str(exc)) from None
        except BaseException:
            self.conn.close()
            raise

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "ResultsStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- schema -------------------------------------------------------------------------------
    def _not_a_store(self, why: str) -> HarnessError:
        return HarnessError(
            f"{self.path} is not a harness results database ({why})",
            "move the file away or point --home/HARNESS_HOME elsewhere",
        )

    def _check_file(self) -> None:
        if self.path.exists() and self.path.stat().st_size > 0:
            with open(self.path, "rb") as fh:
                if fh.read(16) != SQLITE_HEADER:
                    raise self._not_a_store("not an SQLite file")

    def _waiting_out_writers(self, step: Callable[[], Any]) -> Any:
        """Run ``step``; while other writers keep the database busy past SQLite's own timeout, try again
        (up to BUSY_WAIT_S), so "database is locked" never reaches the user."""
        deadline = time.monotonic() + BUSY_WAIT_S
        while True:
            try:
                return step()
            except sqlite3.OperationalError as exc:
                if not _busy(exc):
                    raise
                if time.monotonic() > deadline:
                    raise HarnessError(f"{self.path} stayed locked by other writers for {BUSY_WAIT_S:.0f} s",
                                       "a harness process may hang while holding it: stop it and rerun") from None
                time.sleep(0.2)

    def _query(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """All rows of a read (outside a transaction), waiting out writers."""
        return self._waiting_out_writers(lambda: self.conn.execute(sql, tuple(args)).fetchall())

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # Take the write lock now: no upgrade deadlocks.
        self._waiting_out_writers(lambda: self.conn.execute("BEGIN IMMEDIATE"))
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        # With the rollback journal, COMMIT waits for readers to finish; the transaction stays open meanwhile.
        self._waiting_out_writers(lambda: self.conn.execute("COMMIT"))

    def schema_version(self) -> int:
        return self._query("PRAGMA user_version")[0][0]

    def _migrate(self) -> None:
        with self._transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise HarnessError(
                    f"{self.path} has schema version {version}, newer than this harness understands ({SCHEMA_VERSION})",
                    "upgrade harness (pip install -U harness) or use another --home",
                )
            if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise self._not_a_store("it holds tables of another program")
            for step in range(version, SCHEMA_VERSION):
                MIGRATIONS[step](conn)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # -- writing ------------------------------------------------------------------------------
    def add_run(self, run: RunRecord, metrics: Iterable[MetricRow] = (), samples: Iterable[SampleRow] = ()) -> None:
        """Insert a run with its metrics and samples, all or nothing."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._transaction() as conn:
            conn.execute(
                "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run.run_id, run.task, run.backbone, run.variant, run.vision, run.recipe,
                 json.dumps(run.config, sort_keys=True), run.run_hash, run.training_hash,
                 run.controlled_hash, run.run_dir, run.status, json.dumps(run.versions),
                 json.dumps(run.timings), run.created or now, run.finished or now),
            )
            conn.executemany(
                "INSERT INTO metrics VALUES (?,?,?,?,?,?,?)",
                [(run.run_id, m.task, m.metric, float(m.value), m.stderr, int(m.higher_is_better), int(m.primary))
                 for m in metrics],
            )
            conn.executemany(
                "INSERT INTO samples VALUES (?,?,?,?,?,?,?,?)",
                [(run.run_id, s.task, int(s.doc_id), str(s.prediction), str(s.target), s.score, s.confidence,
                  json.dumps(s.extra)) for s in samples],
            )

    # -- reading ------------------------------------------------------------------------------
    def runs(self, task: str | None = None, backbone: str | None = None, status: str | None = "finished") -> list[RunRecord]:
        """Runs, newest first, optionally filtered."""
        where, args = [], []
        for column, value in (("task", task), ("backbone", backbone), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY finished DESC, rowid DESC"
        return [_run_from_row(r) for r in self._query(sql, args)]

    def run(self, run_id: str) -> RunRecord | None:
        rows = self._query("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        return _run_from_row(rows[0]) if rows else None

    def metrics(self, run_id: str) -> list[MetricRow]:
        rows = self._query("SELECT * FROM metrics WHERE run_id = ? ORDER BY task, metric", (run_id,))
        return [MetricRow(r["task"], r["metric"], r["value"], r["stderr"], bool(r["higher_is_better"]), bool(r["is_primary"]))
                for r in rows]

    def samples(self, run_id: str, task: str | None = None) -> list[SampleRow]:
        sql, args = "SELECT * FROM samples WHERE run_id = ?", [run_id]
        if task is not None:
            sql, args = sql + " AND task = ?", args + [task]
        rows = self._query(sql + " ORDER BY task, doc_id", args)
        return [SampleRow(r["task"], r["doc_id"], r["prediction"], r["target"], r["score"], r["confidence"],
                          json.loads(r["extra_json"])) for r in rows]

    def tasks(self) -> list[str]:
        return [r[0] for r in self._query("SELECT DISTINCT task FROM metrics ORDER BY task")]


def _run_from_row(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        run_id=row["run_id"], task=row["task"], backbone=row["backbone"], variant=row["variant"],
        vision=row["vision"], recipe=row["recipe"], config=json.loads(row["config_json"]),
        run_hash=row["run_hash"], training_hash=row["training_hash"], controlled_hash=row["controlled_hash"],
        run_dir=row["run_dir"], status=row["status"], versions=json.loads(row["versions_json"]),
        timings=json.loads(row["timings_json"]), created=row["created"], finished=row["finished"],
    )
