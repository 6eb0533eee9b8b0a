"""`harness data build` builds into HARNESS_HOME and reuses the build on the next call."""
import json
from pathlib import Path

from clirunner import run_cli


def test_data_build_writes_manifest_under_home_and_reuses_it(home):
    args = ["data", "build", "--align", "4", "--instruct", "4", "--eval", "3", "--image-size", "16", "--seed", "2"]
    first = run_cli(args, home=home)
    assert first.returncode == 0, first.stderr
    out = Path(first.stdout.strip().splitlines()[-1])
    assert out.parent == home / "data" / "scene"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 2 and manifest["counts"]["align"] == 4
    stamp = (out / "manifest.json").stat().st_mtime_ns
    second = run_cli(args, home=home)
    assert second.returncode == 0 and Path(second.stdout.strip().splitlines()[-1]) == out
    assert (out / "manifest.json").stat().st_mtime_ns == stamp


def test_data_build_rejects_a_bad_size_in_one_line(home):
    result = run_cli(["data", "build", "--align", "0"], home=home)
    assert result.returncode == 2
    assert "--align" in result.stderr
