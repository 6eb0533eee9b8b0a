"""Entry-point module of the built-in LLaMA backbones: registers llama1/2/3 and `harness organisms`.

Import-light: the implementation (:mod:`.llama_backbone`) and the organism builder are referenced
lazily, so listing plugins imports neither torch nor transformers.
"""
from __future__ import annotations

from harness import hookimpl
from harness.specs import BackboneSpec

IMPL = "harness_plugins.backbones.llama_backbone"


@hookimpl
def register_backbones(register):
    register(BackboneSpec(name="llama1", model_card="llama1", implementation=f"{IMPL}:Llama1",
                          description="LLaMA-1 (Vicuna v1 chat format, as LLaVA used)"))
    register(BackboneSpec(name="llama2", model_card="llama2", implementation=f"{IMPL}:Llama2",
                          description="LLaMA-2 ([INST] chat format)"))
    register(BackboneSpec(name="llama3", model_card="llama3", implementation=f"{IMPL}:Llama3",
                          description="LLaMA-3 (header tokens, <|eot_id|>)"))


@hookimpl
def register_commands(cli):
    from harness_plugins.organisms.cli import organisms

    cli.add_command(organisms)
