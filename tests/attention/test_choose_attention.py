"""``attention=auto|name``: which backend is chosen on this machine, and why."""
import pytest

from harness.errors import HarnessError
from harness.specs import AttentionSpec
from harness_plugins.attention import BACKENDS
from harness_plugins.attention.backends import xformers_available
from harness.attention import choose_attention


def builtin_specs():
    from harness_plugins import attention

    specs = []
    attention.register_attention_backends(register=specs.append)
    return specs


def test_auto_on_cpu_picks_sdpa_and_says_why_xformers_was_skipped():
    choice = choose_attention("auto", "cpu", builtin_specs())
    assert choice.name == "sdpa"
    assert "xformers" in choice.reason and "skipped" in choice.reason


def test_xformers_is_unavailable_on_cpu_with_the_reason():
    ok, reason = xformers_available("cpu")
    assert not ok and "xformers" in reason


def test_named_backend_that_cannot_run_is_a_one_line_error():
    with pytest.raises(HarnessError, match="attention=xformers cannot run on cpu") as info:
        choose_attention("xformers", "cpu", builtin_specs())
    assert "\n" not in str(info.value) and "attention=sdpa" in str(info.value)


def test_unknown_backend_suggests_the_close_name():
    with pytest.raises(HarnessError, match="did you mean 'eager'"):
        choose_attention("eagr", "cpu", builtin_specs())


def test_named_eager_is_chosen_as_asked():
    assert choose_attention("eager", "cpu", builtin_specs()).name == "eager"


def test_auto_prefers_the_highest_priority_available_backend():
    better = AttentionSpec(name="better", implementation=f"{BACKENDS}:register_eager",
                           availability=f"{BACKENDS}:eager_available", priority=99)
    choice = choose_attention("auto", "cpu", builtin_specs() + [better])
    assert choice.name == "eager" and choice.reason.startswith("auto: better")


def test_the_three_builtin_backends_are_registered_from_the_entry_point():
    from harness.plugin_manager import load_plugins

    names = load_plugins().registry("attention").names()
    assert {"eager", "sdpa", "xformers"} <= set(names)
