"""A run directory is trained into only by its own training: never overwritten."""
import pytest
import yaml

from harness.errors import HarnessError
from harness_plugins.recipes.llava15 import rundir


def _config(run_dir, training_hash):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"format": 1, "hashes": {"training": training_hash}}))


def test_new_run_directory_is_claimed(tmp_path):
    _config(tmp_path / "run", "aaa")
    state = rundir.claim(tmp_path / "run", "aaa", resume=False)
    assert state.status == "running" and (tmp_path / "run" / "training.json").is_file()


def test_resume_of_a_different_training_is_refused(tmp_path):
    _config(tmp_path / "run", "aaa")
    rundir.claim(tmp_path / "run", "aaa", resume=False)
    before = (tmp_path / "run" / "training.json").read_text()
    with pytest.raises(HarnessError, match="training hash aaa, this config's is bbb"):
        rundir.claim(tmp_path / "run", "bbb", resume=True)
    assert (tmp_path / "run" / "training.json").read_text() == before


def test_interrupted_run_needs_resume(tmp_path):
    rundir.claim(tmp_path / "run", "aaa", resume=False)
    with pytest.raises(HarnessError, match="resume=true"):
        rundir.claim(tmp_path / "run", "aaa", resume=False)
    assert rundir.claim(tmp_path / "run", "aaa", resume=True).status == "running"


def test_finished_run_is_never_retrained(tmp_path):
    state = rundir.claim(tmp_path / "run", "aaa", resume=False)
    state.status, state.export = "finished", "x"
    state.save(tmp_path / "run")
    with pytest.raises(HarnessError, match="finished training"):
        rundir.claim(tmp_path / "run", "aaa", resume=True)


def test_folder_with_foreign_files_is_refused(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    with pytest.raises(HarnessError, match="notes.txt"):
        rundir.claim(tmp_path / "run", "aaa", resume=False)
    assert not (tmp_path / "run" / "training.json").exists()
