"""Few torch threads: other test areas run beside these on 2 cores."""
import pytest


@pytest.fixture(scope="session", autouse=True)
def _few_threads():
    import torch

    torch.set_num_threads(1)
