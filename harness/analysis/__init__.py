"""The analysis contract of ``harness compare``: what an analysis plugin receives and returns.

A third-party analysis needs only this package::

    from harness.analysis import AnalysisResult, CompareContext, Table

    def analyze(ctx: CompareContext) -> AnalysisResult: ...

registered with ``AnalysisSpec(name, "my_pkg.module:analyze")`` (see docs/analyses.md). The statistics
the built-in analyses use are in :mod:`harness.analysis.stats`, the competence gate in
:mod:`harness.analysis.gate`, seed replicates in :mod:`harness.analysis.replicates`.

The names below are loaded on first use, so importing a light submodule (``replicates``) from the
command line's start-up path pulls in neither numpy nor scipy.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "CompareContext": "context", "ConfigDifference": "context", "SOLVED_AT": "context", "group_value": "context",
    "Competence": "gate",
    "AnalysisResult": "result", "StudyFinding": "result", "Table": "result", "PAPER_FINDINGS": "result",
    "SHOWN": "result", "NOT_SHOWN": "result", "INCONCLUSIVE": "result", "NOT_INTERPRETABLE": "result",
    "Interval": "stats.accuracy",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'harness.analysis' has no attribute {name!r}")
    value = getattr(import_module(f"harness.analysis.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
