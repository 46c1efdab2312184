"""A process of the worker's own that runs one kind of call at a time, in order (the batch writer,
the KPI rounds): started with ``spawn``, so it inherits none of the worker's threads, sockets or
event loop, and restarted after it died."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any


def enabled(variable: str) -> bool:
    """Whether ``variable`` (default on) asks for a process of its own: ``0``, ``false``, ``no``
    or ``off`` keep the work in a thread of the worker's process."""
    return os.environ.get(variable, "1").strip().lower() not in ("0", "false", "no", "off")


def _pid() -> int:
    return os.getpid()


class HelperProcess:
    """One process, one call at a time, in submission order (a pool of one worker)."""

    def __init__(self, initializer: Callable[..., None], *initargs: Any) -> None:
        self.initializer = initializer
        self.initargs = initargs
        self._pool: ProcessPoolExecutor | None = None

    def _get(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=self.initializer, initargs=self.initargs)
        return self._pool

    def start(self) -> Future[int]:
        """Start the process now (its imports take a second or two): a future of its pid."""
        return self.submit(_pid)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """``fn(*args)`` in the process (a module-level function; arguments and result pickled)."""
        try:
            return self._get().submit(fn, *args)
        except BrokenProcessPool:
            self.restart()
            return self._get().submit(fn, *args)

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Await ``fn(*args)`` in the process. A call to a process that died fails with
        :class:`BrokenProcessPool`; the next call runs in a new process."""
        try:
            return await asyncio.wrap_future(self.submit(fn, *args))
        except BrokenProcessPool:
            self.restart()
            raise

    def restart(self) -> None:
        """After the process died: a new one for the next call."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


__all__ = ["BrokenProcessPool", "HelperProcess", "enabled"]
