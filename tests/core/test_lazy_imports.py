"""Listing plugins, help and config resolution import no heavy library."""
import json
import subprocess
import sys

import pytest

HEAVY = ["torch", "transformers", "deepspeed", "lmms_eval", "xformers", "datasets"]
PROBE = """
import contextlib, io, json, sys
from harness.cli.main import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    code = main({args!r})
print(json.dumps({{"code": code, "heavy": sorted(m for m in {heavy!r} if m in sys.modules)}}))
"""


@pytest.mark.parametrize("args", [
    ["--help"],
    ["plugins"],
    ["list", "backbones"],
    ["list", "tasks"],
    ["config", "task=vqa", "backbone=llama3"],
    ["run", "--dry-run", "task=vqa", "backbone=llama3"],
    ["leaderboard"],
])
def test_cli_start_up_imports_no_heavy_library(args, home):
    out = subprocess.run([sys.executable, "-c", PROBE.format(args=args, heavy=HEAVY)], capture_output=True,
                         text=True, env={"HARNESS_HOME": str(home), "PATH": "/usr/bin:/bin"})
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    assert result["code"] == 0
