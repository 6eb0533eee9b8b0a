"""Hook specifications: one register-callback hook per plugin kind, plus CLI commands."""
import pluggy

hookspec = pluggy.HookspecMarker("harness")
hookimpl = pluggy.HookimplMarker("harness")


@hookspec
def register_backbones(register):
    """Register LLM backbone families: ``register(BackboneSpec(...))``."""


@hookspec
def register_vision_encoders(register):
    """Register vision towers: ``register(VisionSpec(...))``."""


@hookspec
def register_recipes(register):
    """Register training recipes: ``register(RecipeSpec(...))``."""


@hookspec
def register_tasks(register):
    """Register benchmarks (lmms-eval tasks): ``register(TaskSpec(...))``."""


@hookspec
def register_attention_backends(register):
    """Register attention implementations for the hot path: ``register(AttentionSpec(...))``."""


@hookspec
def register_analyses(register):
    """Register cross-run analyses used by ``harness compare``: ``register(AnalysisSpec(...))``."""


@hookspec
def register_commands(cli):
    """Add click commands or groups to the ``harness`` CLI group ``cli``."""
