"""Plugin discovery from entry points: isolation of failures, duplicates, filtering."""
import json

from clirunner import run_cli
from distfactory import BACKBONE, make_dist


def plugins_json(site, home, env=None):
    result = run_cli(["plugins", "--json"], home=home, env={"PYTHONPATH": str(site), **(env or {})})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_plugin_that_raises_at_import_is_reported_and_the_rest_works(tmp_path, home):
    site = make_dist(tmp_path / "site", "broken-plugin", "broken_plugin", "raise RuntimeError('boom at import')\n")
    make_dist(site, "good-plugin", "good_plugin", BACKBONE.format(name="goodbone"))
    data = plugins_json(site, home)
    (error,) = [e for e in data["errors"] if e["dist"] == "broken-plugin"]
    assert error["name"] == "broken_plugin" and error["stage"] == "import"
    assert error["error"] == "RuntimeError: boom at import"
    listed = run_cli(["list", "backbones", "--json"], home=home, env={"PYTHONPATH": str(site)})
    assert listed.returncode == 0
    assert "goodbone" in {row["name"] for row in json.loads(listed.stdout)}
    warnings = [line for line in listed.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "broken_plugin (broken-plugin)" in warnings[0]


def test_a_misspelt_hook_is_an_error_not_a_silent_no_op(tmp_path, home):
    code = "import harness\n@harness.hookimpl\ndef register_backbone(register):\n    pass\n"
    site = make_dist(tmp_path / "site", "typo-plugin", "typo_plugin", code)
    data = plugins_json(site, home)
    (error,) = [e for e in data["errors"] if e["dist"] == "typo-plugin"]
    assert error["stage"] == "validate" and "register_backbone" in error["error"]
    assert "typo_plugin" not in {p["name"] for p in data["plugins"]}


def test_a_plugin_that_raises_while_registering_is_reported(tmp_path, home):
    code = "import harness\n@harness.hookimpl\ndef register_tasks(register):\n    raise ValueError('no tasks today')\n"
    site = make_dist(tmp_path / "site", "sad-plugin", "sad_plugin", code)
    data = plugins_json(site, home)
    (error,) = [e for e in data["errors"] if e["dist"] == "sad-plugin"]
    assert error["stage"] == "register" and error["error"] == "ValueError: no tasks today"


def test_same_name_from_two_distributions_needs_dist_prefix(tmp_path, home):
    site = make_dist(tmp_path / "site", "alpha-plugin", "alpha_plugin", BACKBONE.format(name="twin"))
    make_dist(site, "beta-plugin", "beta_plugin", BACKBONE.format(name="twin"))
    env = {"PYTHONPATH": str(site)}
    ambiguous = run_cli(["config", "backbone=twin"], home=home, env=env)
    assert ambiguous.returncode == 2
    assert "alpha-plugin and beta-plugin" in ambiguous.stderr and "'alpha-plugin:twin'" in ambiguous.stderr
    picked = run_cli(["config", "--json", "backbone=beta-plugin:twin"], home=home, env=env)
    assert picked.returncode == 0, picked.stderr
    assert json.loads(picked.stdout)["config"]["backbone"]["name"] == "beta-plugin:twin"


def test_harness_load_plugins_restricts_third_party_distributions(tmp_path, home):
    site = make_dist(tmp_path / "site", "extra-plugin", "extra_plugin", BACKBONE.format(name="extrabone"))
    only_builtins = plugins_json(site, home, env={"HARNESS_LOAD_PLUGINS": ""})
    assert all(p["dist"] == "harness" for p in only_builtins["plugins"])
    named = plugins_json(site, home, env={"HARNESS_LOAD_PLUGINS": "extra-plugin"})
    assert "extra_plugin" in {p["name"] for p in named["plugins"]}
    assert all(p["dist"] in ("harness", "extra-plugin") for p in named["plugins"])


def test_harness_trace_hooks_traces_each_plugins_hook_calls_to_stderr(tmp_path, home):
    site = make_dist(tmp_path / "site", "traced-plugin", "traced_plugin", BACKBONE.format(name="tracedbone"))
    env = {"PYTHONPATH": str(site)}
    traced = run_cli(["list", "backbones"], home=home, env={**env, "HARNESS_TRACE_HOOKS": "1"})
    assert traced.returncode == 0, traced.stderr
    calls = [line.strip() for line in traced.stderr.splitlines() if line.strip().startswith("register_")]
    # every registration hook, once per plugin implementing it: the built-ins and the third-party one
    assert calls.count("register_backbones [hook]") >= 2 and "register_tasks [hook]" in calls
    assert "tracedbone" in traced.stdout
    quiet = run_cli(["list", "backbones"], home=home, env=env)
    assert quiet.returncode == 0 and "[hook]" not in quiet.stderr
