"""Turn down library noise during ``harness run``: deprecation warnings torch.distributed prints
on every DeepSpeed step, transformers' per-load progress bars, lmms-eval's DEBUG log lines.
Warnings and errors still show."""
from __future__ import annotations

import sys
import warnings


def quiet_libraries() -> None:
    """Silence known-harmless warnings and progress bars of the libraries a run drives."""
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.distributed")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\.modeling_utils")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    from loguru import logger  # lmms-eval's logger: DEBUG to stderr unless told otherwise

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
