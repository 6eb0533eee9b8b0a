"""Per-sample response cache: an interrupted evaluation resumes without recomputing finished samples.

One append-only JSONL file per checkpoint identity. Each line is one finished request, written and
fsynced as its batch finishes, keyed by a hash of (checkpoint identity, task fingerprint, doc id,
request arguments, generation settings). A line cut short by a kill is ignored on load. Appends hold
an OS file lock (``<cache>.jsonl.lock``), so the ranks of a data-parallel evaluation (or two
evaluations of one checkpoint) append whole lines, never interleaved ones.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+>")
CACHE_FORMAT = 1


def request_key(checkpoint_id: str, task_fingerprint: str, doc_id: int, kind: str, arguments: list[str],
                settings: dict[str, Any]) -> str:
    """The cache key of one request."""
    payload = json.dumps({"v": CACHE_FORMAT, "ckpt": checkpoint_id, "task": task_fingerprint, "doc": doc_id,
                          "kind": kind, "args": arguments, "settings": settings}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def task_fingerprint(task: Any, task_name: str, split: str) -> str:
    """Hash of the task's configuration (its YAML, with the source of its functions) and its data."""
    from lmms_eval.caching.response_cache import fingerprint_callable

    def encode(value: Any) -> str:
        return fingerprint_callable(value) if callable(value) else str(value)

    try:
        config = json.dumps(task.dump_config(), sort_keys=True, default=encode)
    except Exception:  # a task object without dump_config: its name and data still key the cache
        config = ""
    config = _ADDRESS.sub(">", config)
    data = ""
    dataset = getattr(task, "dataset", None)
    if dataset is not None:
        try:
            data = dataset[split]._fingerprint
        except (KeyError, AttributeError, TypeError):
            data = ""
    return hashlib.sha256(f"{task_name}\0{config}\0{data}".encode("utf-8")).hexdigest()[:32]


def encode_array(array: np.ndarray) -> dict[str, Any]:
    return {"dtype": str(array.dtype), "shape": list(array.shape), "b64": base64.b64encode(array.tobytes()).decode("ascii")}


def decode_array(blob: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(blob["b64"]), dtype=blob["dtype"]).reshape(blob["shape"]).copy()


class ResponseCache:
    """Finished responses by key, loaded from and appended to ``path``."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.entries: dict[str, dict[str, Any]] = {}
        self.stored = 0
        if self.path.is_file():
            with self.path.open("r", encoding="utf-8") as fh:
                for line in fh:
                    try:
                        entry = json.loads(line)
                        self.entries[entry["key"]] = entry["value"]
                    except (json.JSONDecodeError, KeyError, TypeError):
                        continue  # the tail of a write that a kill cut short

    def get(self, key: str) -> dict[str, Any] | None:
        return self.entries.get(key)

    def put_many(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Append a finished batch and make it durable before the evaluation moves on."""
        if not items:
            return
        from filelock import FileLock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = "".join(json.dumps({"key": k, "value": v}) + "\n" for k, v in items)
        with FileLock(str(self.path) + ".lock"), self.path.open("a", encoding="utf-8") as fh:
            # A previous writer killed mid-line left no newline: start on a fresh line.
            if fh.tell() > 0 and not self._ends_with_newline():
                fh.write("\n")
            fh.write(lines)
            fh.flush()
            os.fsync(fh.fileno())
        for k, v in items:
            self.entries[k] = v
        self.stored += len(items)

    def _ends_with_newline(self) -> bool:
        with self.path.open("rb") as fh:
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) == b"\n"
