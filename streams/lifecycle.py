"""The worker's lifecycle lines on standard error and its crash-like exit."""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn

log = logging.getLogger("attain.streams")


def say(msg: str) -> None:
    """A lifecycle line on stderr (``attain worker: ...``), independent of the log level."""
    print(f"attain worker: {msg}", file=sys.stderr, flush=True)


def fatal(msg: str, exc: BaseException | None = None) -> NoReturn:
    """Exit at once, like a crash: the current batch is neither acked nor committed."""
    log.critical("%s", msg, exc_info=exc)
    say(f"fatal: {msg}; exiting without committing the current batch (it is processed again "
        "after a restart)")
    sys.stderr.flush()
    os._exit(70)
