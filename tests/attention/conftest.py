"""Attention tests run torch on two threads (CI has two cores)."""
from torchthreads import few_threads  # noqa: F401 (autouse)
