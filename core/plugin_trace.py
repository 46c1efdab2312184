"""``ATTAIN_TRACE_PLUGINS=1``: one log line per hook call (the plugin manager's tracer)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

trace_log = logging.getLogger("attain.trace")


class Tracer:
    """``ATTAIN_TRACE_PLUGINS=1``: one log line per hook call (hook, plugins, milliseconds)."""

    def __init__(self) -> None:
        self.local = threading.local()

    def before(self, hook_name: str, hook_impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        stack = self.local.__dict__.setdefault("stack", [])
        stack.append(time.perf_counter())

    def after(self, outcome: Any, hook_name: str, hook_impls: Sequence[Any],
              kwargs: Mapping[str, Any]) -> None:
        started = self.local.stack.pop()
        ms = (time.perf_counter() - started) * 1000
        failed = outcome.exception is not None
        trace_log.info("trace: %s plugins=%s %.3f ms%s", hook_name,
                       ",".join(i.plugin_name for i in hook_impls) or "-", ms,
                       " (raised)" if failed else "")
