"""Bad input: one line on stderr, exit code 2, no traceback, nothing written."""
import sqlite3

import pytest
from clirunner import run_cli
from distfactory import make_dist

from harness.store.migrations import SCHEMA_VERSION


def assert_one_line_error(result, fragment):
    assert result.returncode == 2, (result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if not line.startswith("warning:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("error: ") and fragment in errors[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args, fragment", [
    (["frobnicate"], "No such command 'frobnicate'"),
    (["run", "backbon=llama3"], "unknown config key 'backbon'"),
    (["run", "recipe.finetune.lr=abc"], "'abc' is not a float"),
    (["run", "recipe=llava16"], "unknown recipe 'llava16' (did you mean 'llava15'"),
    (["run", "backbone=llama3,llama2"], "add -m to sweep"),
    (["run", "-m", "backbone=llama3,nope"], "unknown backbone 'nope'"),
    (["list", "gizmos"], "Invalid value for '{backbones|vision|recipes|tasks|attention|analyses}'"),
    (["leaderboard", "backbone=llama3"], "leaderboard takes only task="),
    (["run", "backbone.path=/nonexistent/llama"], "backbone.path /nonexistent/llama does not exist"),
    (["run", "recipe.align.global_batch=30"], "recipe.align.global_batch=30 is not a multiple"),
    (["run", "--dry-run", "backbone.variant=custom"], "backbone.variant=custom means weights from backbone.path"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(home, args, fragment):
    result = run_cli(args, home=home)
    assert_one_line_error(result, fragment)
    assert list(home.iterdir()) == []


def test_an_output_path_under_a_file_is_bad_input(home, tmp_path):
    (tmp_path / "afile").write_text("")
    result = run_cli(["organisms", "build", "--quick", "--only", "llama1", "--out", str(tmp_path / "afile" / "sub")],
                     home=home)
    assert_one_line_error(result, "afile/sub: a parent is not a directory")


def test_debug_shows_the_traceback(home):
    result = run_cli(["--debug", "run", "backbon=llama3"], home=home)
    assert result.returncode == 2 and "Traceback" in result.stderr


def test_unwritable_home_is_reported(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run_cli(["run", "task=vqa"], home=blocker / "home")
    assert_one_line_error(result, "is not writable")


def test_a_store_that_is_not_sqlite_is_reported_and_kept(home):
    (home / "results.sqlite").write_text("hello")
    result = run_cli(["leaderboard"], home=home)
    assert_one_line_error(result, "is not a harness results database")
    assert (home / "results.sqlite").read_text() == "hello"


def test_a_store_with_a_newer_schema_is_reported(home):
    conn = sqlite3.connect(home / "results.sqlite")
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    assert_one_line_error(run_cli(["leaderboard"], home=home), "newer than this harness understands")


def test_a_malformed_model_card_names_the_file(tmp_path, home):
    card = tmp_path / "broken.yaml"
    card.write_text("schema: 1\nname: [unclosed\n")
    code = f"""
import harness
from harness.specs import BackboneSpec

@harness.hookimpl
def register_backbones(register):
    register(BackboneSpec(name="cardless", model_card={str(card)!r}, implementation="x:y"))
"""
    site = make_dist(tmp_path / "site", "card-plugin", "card_plugin", code)
    result = run_cli(["run", "backbone=cardless"], home=home, env={"PYTHONPATH": str(site)})
    assert_one_line_error(result, f"malformed YAML in model card {card}")
