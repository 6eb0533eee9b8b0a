"""harness: controlled LLM-backbone-swap studies of vision-language models, on lmms-eval.

Plugins write ``@harness.hookimpl`` and receive a ``register`` callback per plugin kind.
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
]
