"""Attention tests run torch on one or two threads (other engineers share the CPU)."""
import pytest
import torch


@pytest.fixture(autouse=True)
def few_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)
