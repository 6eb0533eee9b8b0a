"""`pip install .[xformers]` gives a torch, torchvision and xformers that load together (run by
`tox -e xformers`, which installs that extra; the default environment has another torch)."""
import os

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("HARNESS_XFORMERS_ENV") != "1",
                                reason="checks the xformers extra's install: tox -e xformers")


def test_the_xformers_extra_installs_the_torch_its_library_is_built_for():
    import torch
    import torchvision
    import xformers

    assert torch.__version__.split("+")[0] == "2.10.0" and torchvision.__version__.split("+")[0] == "0.25.0"
    assert xformers.__version__ == "0.0.35"
    assert xformers._has_cpp_library, xformers._cpp_lib._cpp_library_load_exception


def test_on_the_cpu_auto_still_says_why_xformers_is_skipped():
    from harness_plugins.attention.backends import xformers_available

    ok, why = xformers_available("cpu")
    assert not ok and why == "xformers 0.0.35 has no kernels for cpu"
