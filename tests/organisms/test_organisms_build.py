"""`harness organisms build --quick` writes loadable, deterministic organisms (into tmp_path only)."""
from __future__ import annotations

import hashlib
import json

import pytest

from clirunner import run_cli
from harness.errors import HarnessError


def digest(folder) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.iterdir())
            if f.name != "build.json"}


@pytest.mark.slow
def test_quick_build_writes_loadable_organisms(tmp_path, home):
    result = run_cli(["organisms", "build", "--quick", "--only", "llama2", "--only", "llama3",
                      "--out", str(tmp_path), "--threads", "1"], home=home)
    assert result.returncode == 0, result.stderr
    from harness_plugins.backbones.llama_backbone import Llama2, Llama3

    for backbone, name in ((Llama2(), "llama2"), (Llama3(), "llama3")):
        tokenizer = backbone.load_tokenizer(path=tmp_path / name)
        model = backbone.load_model(path=tmp_path / name, tokenizer=tokenizer)
        conv = [{"from": "human", "value": "<image>\nHow many cubes?"}, {"from": "gpt", "value": "Two."}]
        rendered = backbone.render(conv, tokenizer, "q", num_image_tokens=4)
        import torch

        ids = torch.tensor([rendered.input_ids])
        assert torch.isfinite(model(input_ids=ids, labels=torch.tensor([rendered.labels])).loss)
        record = json.loads((tmp_path / name / "build.json").read_text())
        assert record["mode"] == "quick" and record["seed"] == 0
    assert not list(tmp_path.glob(".*"))  # no temporary folder left behind


@pytest.mark.slow
def test_quick_build_is_deterministic(tmp_path):
    import torch

    from harness_plugins.organisms.build import build_organisms

    torch.set_num_threads(1)
    build_organisms(tmp_path / "a", ("llama1",), seed=3, quick=True)
    build_organisms(tmp_path / "b", ("llama1",), seed=3, quick=True)
    assert digest(tmp_path / "a" / "llama1") == digest(tmp_path / "b" / "llama1")


@pytest.mark.slow
def test_two_jobs_build_the_same_organisms_as_one(tmp_path):
    """jobs=2 builds CLIP in a spawned second process: same files, records in the same order, as jobs=1."""
    import torch

    from harness_plugins.organisms.build import build_organisms

    torch.set_num_threads(1)
    one = build_organisms(tmp_path / "one", ("llama1", "clip"), seed=3, quick=True, jobs=1)
    two = build_organisms(tmp_path / "two", ("llama1", "clip"), seed=3, quick=True, jobs=2)
    assert [r["organism"] for r in two] == [r["organism"] for r in one] == ["llama1", "clip"]
    for name in ("llama1", "clip"):
        assert digest(tmp_path / "two" / name) == digest(tmp_path / "one" / name)
    assert two[1]["training"] == one[1]["training"]


def test_unknown_organism_name_is_refused(tmp_path):
    from harness_plugins.organisms.build import build_organisms

    with pytest.raises(HarnessError, match=r"unknown organism 'llama4'"):
        build_organisms(tmp_path, ("llama4",), quick=True)
    assert not any(tmp_path.iterdir())


def test_cli_lists_the_build_command(home):
    result = run_cli(["organisms", "build", "--help"], home=home)
    assert result.returncode == 0 and "--quick" in result.stdout and "--only" in result.stdout
