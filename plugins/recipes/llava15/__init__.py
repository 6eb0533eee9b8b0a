"""The LLaVA-1.5 recipe plugin: registers ``llava15`` (align, then finetune) with its typed settings,
and the ``harness train`` command.

Import-light: the trainer (DeepSpeed) and the command's module are imported lazily.
"""
import harness
from harness.specs import RecipeSpec
from harness_plugins.recipes.llava15.settings import PROFILES, Llava15Settings


@harness.hookimpl
def register_recipes(register):
    register(RecipeSpec(
        name="llava15",
        settings=Llava15Settings,
        implementation="harness_plugins.recipes.llava15.train:train",
        validate="harness_plugins.recipes.llava15.validate:validate",
        profiles=PROFILES,
        description="LLaVA-1.5: align (projector, ZeRO-2) then finetune (projector + LLM, ZeRO-3), DeepSpeed",
        aliases=("llava-1.5",),
    ))


@harness.hookimpl
def register_commands(cli):
    from harness_plugins.recipes.llava15.cli import train_cmd  # click only: light

    cli.add_command(train_cmd)
