"""One writer per shared folder (harness.locks): a live owner is waited for, named in one line; a dead
owner's lock is taken over at once on its host; an owner on another host that stops renewing its lease is
taken over once the lease runs out, and never while it renews it."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.locks import exclusive, held_env, read_owner

HOLDER = Path(__file__).with_name("lockholder.py")


def _hold(lock, *extra, env=None):
    proc = subprocess.Popen([sys.executable, str(HOLDER), str(lock), *extra], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().startswith("held"), "the holder did not get the lock"
    return proc


def _take(lock, what="training abc123"):
    """Take the lock here; returns (the dead owner taken over, the wait lines, seconds waited)."""
    lines, started = [], time.monotonic()
    with exclusive(lock, what, on_wait=lines.append) as dead:
        assert read_owner(lock).pid == os.getpid()
        return dead, lines, time.monotonic() - started


def test_a_contender_waits_for_a_live_owner_names_it_once_and_gets_the_lock_when_it_finishes(tmp_path):
    lock = tmp_path / "abc123.lock"
    holder = _hold(lock)
    finish = threading.Timer(3, lambda: (holder.stdin.close(), holder.wait()))  # the owner finishes in 3 s
    finish.start()
    dead, lines, waited = _take(lock)
    finish.join()
    assert waited > 2 and dead is None  # it finished cleanly: nothing to take over
    assert len(lines) == 1
    assert f"waiting for pid {holder.pid} on " in lines[0] and "which is training abc123" in lines[0]


def test_the_lock_of_an_owner_killed_outright_is_taken_over_at_once_and_names_the_dead_owner(tmp_path):
    lock = tmp_path / "abc123.lock"
    holder = _hold(lock)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    dead, lines, waited = _take(lock)
    assert dead is not None and dead.pid == holder.pid and dead.what == "training abc123"
    assert waited < 5


def test_an_owner_on_another_host_is_waited_for_while_it_renews_its_lease_and_taken_over_when_it_stops(
        tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_LOCK_LEASE_S", "3")
    lock = tmp_path / "abc123.lock"
    holder = _hold(lock, "--host", "node-b")
    try:
        stopper = subprocess.Popen([sys.executable, "-c",
                                    f"import os, time; time.sleep(6); os.kill({holder.pid}, {signal.SIGSTOP})"])
        dead, lines, waited = _take(lock)
        stopper.wait()
        # 6 s alive and renewing (twice the lease), then frozen: taken over about one lease after the freeze
        assert 8 < waited < 20
        assert len(lines) == 1 and "on node-b" in lines[0] and "lease renewed" in lines[0]
        assert dead is not None and dead.host == "node-b"
    finally:
        holder.kill()
        holder.wait()


def test_a_process_started_by_the_owner_works_under_its_lock_without_waiting(tmp_path):
    lock = tmp_path / "abc123.lock"
    with exclusive(lock, "training abc123"):
        child = subprocess.run([sys.executable, "-c", f"from harness.locks import exclusive\n"
                                f"with exclusive({str(lock)!r}, 'x'):\n    print('inside')"],
                               env=held_env(lock), capture_output=True, text=True, timeout=60)
    assert child.stdout.strip() == "inside"


def test_a_lease_setting_that_is_not_a_positive_number_is_one_line(tmp_path, monkeypatch):
    from harness.errors import HarnessError

    monkeypatch.setenv("HARNESS_LOCK_LEASE_S", "soon")
    with pytest.raises(HarnessError, match="HARNESS_LOCK_LEASE_S=soon"):
        _take(tmp_path / "x.lock")
