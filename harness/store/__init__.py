"""The SQLite results store: runs, metrics and per-sample rows."""
from harness.store.records import MetricRow, RunRecord, SampleRow
from harness.store.db import ResultsStore, open_store

__all__ = ["MetricRow", "RunRecord", "SampleRow", "ResultsStore", "open_store"]
