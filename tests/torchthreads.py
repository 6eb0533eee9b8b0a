"""An autouse fixture for conftest files of torch-heavy test folders: torch on two threads (CI has two
cores), restored afterwards. Import it into a conftest: ``from torchthreads import few_threads``."""
import pytest


@pytest.fixture(autouse=True)
def few_threads():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)
