"""A process that takes a harness lock and holds it until killed (or until its stdin closes).

    python lockholder.py LOCK_FILE [--host NAME]

``--host`` makes it claim to run on another host (filelock's marker and the harness's owner record),
as a process on another node of a shared filesystem would."""
import socket
import sys

import filelock._marker

from harness.locks import exclusive

if __name__ == "__main__":
    if "--host" in sys.argv:
        other = sys.argv[sys.argv.index("--host") + 1]
        filelock._marker.host_name = lambda: other
        socket.gethostname = lambda: other
    with exclusive(sys.argv[1], "training abc123") as dead:
        print(f"held {dead.describe() if dead else 'fresh'}", flush=True)
        sys.stdin.read()  # until the test closes it (or kills this process)
