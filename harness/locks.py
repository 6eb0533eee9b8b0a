"""One writer per shared folder: a lease lock that names its owner (host, pid, start time).

A training folder, an evaluation cache or a run folder on a shared home is written by one live process.
The lock is filelock's ``SoftFileLease``: a marker file created exclusively (safe on NFS and other shared
filesystems) and renewed by a heartbeat thread. A contender takes it over when the owner is provably gone
(its pid no longer runs on this host, or was recycled) or, for an owner on another host, when its lease
has not been renewed for ``HARNESS_LOCK_LEASE_S`` seconds (default 60; every host must use the same
value). While a live owner holds it, a contender waits, saying once, in one line, whom it waits for.
A process started by the owner to do its work (a launcher's training) is told through the environment
that the lock is already held for it.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import HarnessError

if TYPE_CHECKING:
    from filelock import SoftFileLease

HELD = "HARNESS_HELD_LOCKS"  # lock files an ancestor process holds for this one (os.pathsep-separated)
POLL_S = 1.0


def lease_seconds() -> float:
    """Seconds without renewal after which another host may take a lock over (HARNESS_LOCK_LEASE_S)."""
    raw = os.environ.get("HARNESS_LOCK_LEASE_S", "60")
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise HarnessError(f"HARNESS_LOCK_LEASE_S={raw} is not a positive number of seconds",
                           "unset it (60 s) or set the same value on every host")
    return value


@dataclass(frozen=True)
class Owner:
    """Who holds a lock: host, pid, when it took the lock, and what it does under it."""

    host: str
    pid: int
    started: str
    what: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} (since {self.started})"

    def is_me(self) -> bool:
        return self.host == socket.gethostname() and self.pid == os.getpid()


def owner_file(lock_file: Path) -> Path:
    return Path(lock_file).with_name(Path(lock_file).name + ".json")


def read_owner(lock_file: Path) -> Owner | None:
    """The owner recorded beside ``lock_file`` (None when free or unreadable)."""
    try:
        return Owner(**json.loads(owner_file(lock_file).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def held_env(lock_file: Path) -> dict[str, str]:
    """The environment for a child process that works under ``lock_file``, which this process holds."""
    held = [p for p in os.environ.get(HELD, "").split(os.pathsep) if p]
    return {**os.environ, HELD: os.pathsep.join([*held, str(Path(lock_file).absolute())])}


def _inherited(lock_file: Path) -> bool:
    return str(Path(lock_file).absolute()) in os.environ.get(HELD, "").split(os.pathsep)


def lease(lock_file: Path) -> "SoftFileLease":
    """filelock's lease on ``lock_file``; once taken, a lost claim (its renewal failed for the whole lease, or
    its marker was removed) stops this process, so that no second process writes what it guards."""
    from filelock import SoftFileLease

    def stop(compromise: object) -> None:
        import _thread

        print(f"error: lost the lock {lock_file} ({getattr(compromise, 'reason', compromise)}); stopping so that "
              "no second process writes there", file=sys.stderr, flush=True)
        _thread.interrupt_main()

    return SoftFileLease(str(lock_file), lease_duration=lease_seconds(), on_compromise=stop)


def _age(lock_file: Path) -> str:
    try:
        return f", lease renewed {time.time() - Path(lock_file).stat().st_mtime:.0f} s ago"
    except OSError:
        return ""


@contextmanager
def exclusive(lock_file: Path, what: str, on_wait: Callable[[str], None] | None = None) -> Iterator[Owner | None]:
    """Hold ``lock_file`` while the block runs; wait while a live process holds it.

    ``what`` says what the holder does ("training 3f2a..."); ``on_wait`` gets the one-line wait message
    (once per owner). Yields the owner that died holding the lock (this process takes its work over),
    else None.
    """
    from filelock import LeaseSettingsMismatch, Timeout

    lock_file = Path(lock_file).absolute()
    if _inherited(lock_file):
        yield None
        return
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    claim = lease(lock_file)
    announced: Owner | None = None
    while True:
        try:
            claim.acquire(timeout=POLL_S, poll_interval=0.1)
            break
        except Timeout:
            holder = read_owner(lock_file)
            if holder is not None and holder != announced and on_wait is not None:
                where = "" if holder.host == socket.gethostname() else _age(lock_file)
                on_wait(f"waiting for {holder.describe()}{where}, which is {holder.what}; "
                        "continuing when it finishes or its process is gone")
                announced = holder
        except LeaseSettingsMismatch:
            raise HarnessError(f"{lock_file} is held under another HARNESS_LOCK_LEASE_S",
                               "set the same HARNESS_LOCK_LEASE_S on every host that shares this home") from None
    try:
        previous = read_owner(lock_file)  # left behind only by an owner that died holding the lock
        me = Owner(socket.gethostname(), os.getpid(), datetime.now().astimezone().isoformat(timespec="seconds"), what)
        from harness.runs import write_atomically

        write_atomically(owner_file(lock_file), json.dumps(asdict(me)))
        try:
            yield previous if previous is not None and not previous.is_me() else None
        finally:
            owner_file(lock_file).unlink(missing_ok=True)  # before the lease: a successor never reads a stale owner
    finally:
        claim.release()


def is_held(lock_file: Path) -> bool:
    """Whether a live process holds ``lock_file`` (a dead owner's lock, or an expired lease, is not held)."""
    from filelock import SoftFileLease, Timeout

    if not Path(lock_file).exists():
        return False
    probe = SoftFileLease(str(lock_file), lease_duration=lease_seconds())
    try:
        probe.acquire(timeout=0.5, poll_interval=0.05)  # a stale marker is broken on the first try, taken on the next
    except Timeout:
        return True
    probe.release()
    return False
