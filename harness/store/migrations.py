"""Schema versions of the results store; each migration moves the schema up by one version."""
from __future__ import annotations

import sqlite3

SCHEMA_V1 = """
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    backbone TEXT NOT NULL,
    variant TEXT NOT NULL,
    vision TEXT NOT NULL,
    recipe TEXT NOT NULL,
    config_json TEXT NOT NULL,
    run_hash TEXT NOT NULL,
    training_hash TEXT NOT NULL,
    controlled_hash TEXT NOT NULL,
    run_dir TEXT NOT NULL,
    status TEXT NOT NULL,
    versions_json TEXT NOT NULL,
    timings_json TEXT NOT NULL,
    created TEXT NOT NULL,
    finished TEXT NOT NULL
);
CREATE INDEX runs_task_backbone ON runs (task, backbone, status);
CREATE TABLE metrics (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    task TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL NOT NULL,
    stderr REAL,
    higher_is_better INTEGER NOT NULL,
    is_primary INTEGER NOT NULL,
    PRIMARY KEY (run_id, task, metric)
);
CREATE TABLE samples (
    run_id TEXT NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    task TEXT NOT NULL,
    doc_id INTEGER NOT NULL,
    prediction TEXT NOT NULL,
    target TEXT NOT NULL,
    score REAL,
    confidence REAL,
    extra_json TEXT NOT NULL,
    PRIMARY KEY (run_id, task, doc_id)
);
"""


def _execute_all(conn: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the surrounding transaction; run statement by statement instead.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _v1(conn: sqlite3.Connection) -> None:
    _execute_all(conn, SCHEMA_V1)


# MIGRATIONS[i] takes the schema from version i to version i + 1.
MIGRATIONS = [_v1]
SCHEMA_VERSION = len(MIGRATIONS)
