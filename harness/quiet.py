"""Turn down library noise during ``harness run`` and ``harness train``: deprecation warnings
torch.distributed prints on every DeepSpeed step, transformers' per-load progress bars, lmms-eval's
DEBUG log lines, DeepSpeed's build messages on the CPU. Warnings and errors still show."""
from __future__ import annotations

import contextlib
import io
import logging
import sys
import warnings
from collections.abc import Iterator


def quiet_libraries() -> None:
    """Silence known-harmless warnings and progress bars of the libraries a run drives."""
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.distributed")
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\.modeling_utils")
    # "No CUDA runtime is found, using CUDA_HOME=..." when DeepSpeed imports torch's extension builder on a CPU.
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    from loguru import logger  # lmms-eval's logger: DEBUG to stderr unless told otherwise

    logger.remove()
    logger.add(sys.stderr, level="WARNING")


@contextlib.contextmanager
def captured_stdout() -> Iterator[io.StringIO]:
    """Keep a library's chatter on stdout (DeepSpeed prints "... built successfully" when its CPU
    communication op loads) out of the terminal; when the block fails, the chatter is printed after
    all, since it may say why."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            yield buffer
    except BaseException:
        sys.stdout.write(buffer.getvalue())
        raise
