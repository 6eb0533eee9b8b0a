"""Parallel sweep cells split the cores this process may use (its affinity mask), not the machine's."""
import os
import subprocess
import sys

import pytest

from harness.sweeps import usable_cores


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this platform")
def test_a_process_pinned_to_one_core_counts_one():
    code = "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); " \
           "from harness.sweeps import usable_cores; print(usable_cores())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "1"
    assert usable_cores() == len(os.sched_getaffinity(0))
