"""`harness run --dry-run`: every cell resolved and checked, the weight folders it would load printed,
nothing written (no home, no store, nothing in the working directory)."""
from pathlib import Path

from clirunner import run_cli


def organism_folder(kind: str, name: str) -> Path:
    from harness.lazy import load_ref
    from harness.plugin_manager import get_plugins

    spec = get_plugins().registry(kind).entry(name).spec
    return load_ref(spec.implementation)(spec.model_card).weights_dir("tiny")


def test_dry_run_prints_the_folders_of_every_cell_and_writes_nothing(tmp_path):
    home, cwd = tmp_path / "home", tmp_path / "cwd"  # the home does not exist: a dry run must not make it
    cwd.mkdir()
    done = run_cli(["run", "--dry-run", "-m", "task=vqa", "backbone=llama1,llama3"], home=home, cwd=cwd)
    assert done.returncode == 0, done.stderr
    clip = organism_folder("vision", "clip")
    assert [line for line in done.stdout.splitlines() if line.startswith("# weights: ")] == [
        f"# weights: backbone {organism_folder('backbones', name)}, vision {clip}" for name in ("llama1", "llama3")]
    assert (clip / "config.json").is_file()
    assert not home.exists() and list(cwd.iterdir()) == []
