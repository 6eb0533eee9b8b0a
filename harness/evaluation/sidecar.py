"""Per-task files beside lmms-eval's samples: the harness's per-sample records (answer,
confidences) as JSONL and the answer-position hidden states as one safetensors file keyed by doc id.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def records_path(folder: Path, task: str) -> Path:
    return Path(folder) / f"harness_records_{task}.jsonl"


def hidden_states_path(folder: Path, task: str) -> Path:
    return Path(folder) / f"hidden_states_{task}.safetensors"


def write_task_sidecars(folder: Path, task: str, records: dict[int, dict[str, Any]],
                        hidden: dict[int, np.ndarray] | None = None) -> None:
    """Write (atomically) the records and, if any, the hidden states ([layers + 1, hidden] float16 per doc)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps({"doc_id": d, **records[d]}) + "\n" for d in sorted(records))
    _atomic(records_path(folder, task), lambda tmp: Path(tmp).write_text(lines, encoding="utf-8"))
    if hidden:
        from safetensors.numpy import save_file

        tensors = {str(d): np.ascontiguousarray(hidden[d]) for d in sorted(hidden)}
        _atomic(hidden_states_path(folder, task), lambda tmp: save_file(tensors, tmp, metadata={"task": task, "layout": "doc_id -> [layers+1, hidden] at the answer position"}))


def read_hidden_states(path: Path) -> dict[int, np.ndarray]:
    """doc id -> [layers + 1, hidden] array, from a file :func:`write_task_sidecars` wrote."""
    from safetensors.numpy import load_file

    return {int(k): v for k, v in load_file(str(path)).items()}


def _atomic(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
