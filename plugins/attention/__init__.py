"""Entry-point module of the built-in attention backends: eager, sdpa, xformers (descriptors only;
the kernels and checks live in :mod:`.backends`, imported when used)."""
import harness
from harness.specs import AttentionSpec

BACKENDS = "harness_plugins.attention.backends"


@harness.hookimpl
def register_attention_backends(register):
    register(AttentionSpec(name="xformers", implementation=f"{BACKENDS}:register_xformers",
                           availability=f"{BACKENDS}:xformers_available", priority=30,
                           description="xformers memory_efficient_attention (CUDA; wheel must match torch)"))
    register(AttentionSpec(name="sdpa", implementation=f"{BACKENDS}:register_sdpa",
                           availability=f"{BACKENDS}:sdpa_available", priority=20,
                           description="torch scaled_dot_product_attention (flash/efficient/cuDNN/math)"))
    register(AttentionSpec(name="eager", implementation=f"{BACKENDS}:register_eager",
                           availability=f"{BACKENDS}:eager_available", priority=10,
                           description="plain matmul + softmax (reference)"))
