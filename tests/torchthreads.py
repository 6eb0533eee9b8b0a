"""An autouse fixture for conftest files of torch-heavy test folders: torch on one thread (CI's two cores
run two pytest-xdist workers; two threads each oversubscribed them), restored afterwards. Import it into a conftest: ``from torchthreads import few_threads``."""
import pytest


@pytest.fixture(autouse=True)
def few_threads():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
