"""harness: controlled LLM-backbone-swap studies of vision-language models, on lmms-eval.

Plugins write ``@harness.hookimpl`` and receive a ``register`` callback per plugin kind. An analysis
plugin imports its contract from here too: ``from harness import AnalysisResult, CompareContext, Table``.
"""
from harness.hookspecs import hookimpl
from harness.specs import (
    AnalysisSpec,
    AttentionSpec,
    BackboneSpec,
    RecipeSpec,
    TaskSpec,
    VisionSpec,
)

__version__ = "0.1.0"

__all__ = [
    "hookimpl",
    "AnalysisSpec",
    "AttentionSpec",
    "BackboneSpec",
    "RecipeSpec",
    "TaskSpec",
    "VisionSpec",
    "__version__",
    "AnalysisResult",
    "CompareContext",
    "Table",
]

_ANALYSIS = ("AnalysisResult", "CompareContext", "Table")  # the analysis contract, loaded on first use


def __getattr__(name: str):
    if name in _ANALYSIS:
        import harness.analysis

        return getattr(harness.analysis, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")
