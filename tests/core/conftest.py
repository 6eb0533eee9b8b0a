import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakes import FakeCore  # noqa: E402

from harness.plugin_manager import load_plugins  # noqa: E402


@pytest.fixture
def fake_plugins():
    """A plugin set with only the fake core plugin (no entry points)."""
    yield load_plugins(extra=[("core", FakeCore())], entry_points=False)
