"""Run directories: atomic creation, config.yaml with hashes and sources, version checks."""
import pytest
import yaml

from harness.config import parse_overrides, resolve
from harness.errors import HarnessError
from harness.runs import RUN_FORMAT, create_run_dir, read_run_config


def test_a_run_directory_holds_the_resolved_config_and_its_hashes(fake_plugins, home, monkeypatch):
    monkeypatch.setenv("HARNESS_HOME", str(home))
    resolved = resolve(parse_overrides(["backbone=llama2", "seed=7"]), fake_plugins)
    run_dir = create_run_dir(resolved)
    doc = read_run_config(run_dir)
    assert doc["config"]["backbone"]["name"] == "llama2" and doc["config"]["seed"] == 7
    assert doc["hashes"] == resolved.hashes
    assert doc["sources"]["seed"] == "command line"
    assert [p.name for p in run_dir.parent.iterdir()] == [run_dir.name]  # no staging left behind


def test_a_run_directory_of_another_format_is_refused(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"format": RUN_FORMAT + 1, "harness_version": "9.0"}))
    with pytest.raises(HarnessError, match="was written by harness 9.0"):
        read_run_config(tmp_path)


def test_a_folder_without_config_is_not_a_run(tmp_path):
    with pytest.raises(HarnessError, match="not a harness run directory"):
        read_run_config(tmp_path)


def test_a_run_folder_left_by_a_killed_process_is_found_and_a_live_or_stored_one_is_not(fake_plugins, home,
                                                                                      monkeypatch):
    import signal
    import subprocess
    import sys

    from harness.runs import LOCK, orphaned_run_dirs, release_run_dir

    monkeypatch.setenv("HARNESS_HOME", str(home))
    resolved = resolve(parse_overrides(["backbone=llama2"]), fake_plugins)
    mine, killed, stored, done = (create_run_dir(resolved) for _ in range(4))
    for run_dir in (killed, stored):  # handed to another process, then killed outright (SIGKILL) while it runs
        release_run_dir(run_dir)
    owner = subprocess.Popen([sys.executable, "-c", "import sys\nfrom harness.locks import lease\n"
                              f"for d in {[str(killed / LOCK), str(stored / LOCK)]!r}: lease(d).acquire(timeout=10)\n"
                              "print('held', flush=True); sys.stdin.read()"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert owner.stdout.readline().strip() == "held"
    assert orphaned_run_dirs(lambda run_id: False) == []  # every run is alive: mine here, the two in the other process
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    release_run_dir(done)
    assert not (done / LOCK).exists()
    found = orphaned_run_dirs(lambda run_id: run_id == stored.name)
    assert found == [killed]  # mine: this process is alive; stored: in the store; done: released
