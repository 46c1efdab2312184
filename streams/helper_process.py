"""A process of the worker's own that runs one kind of call at a time, in order (the batch writer,
the KPI rounds): started with ``spawn``, so it inherits none of the worker's threads, sockets or
event loop, and restarted after it died.

Calls go over one pipe and their replies come back on it, read by the worker's event loop itself
when the pipe is readable (``loop.add_reader``); a call is sent from the event loop too, unless
the process is still answering an earlier one (then a sender thread sends it, so the loop never
waits on a full pipe while the process waits for the loop to read its reply). A
``ProcessPoolExecutor`` handed every call and reply on through two threads of its own, each
waiting for the interpreter lock the event loop and Faust's consumer thread hold: measured on
the writer's 500-event batches, the hand-off went from 8.3 / 9.6 ms (there / back, mean) to
6.4 / 6.3 ms, a small part of an 86 ms cycle.
"""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any


def enabled(variable: str) -> bool:
    """Whether ``variable`` (default on) asks for a process of its own: ``0``, ``false``, ``no``
    or ``off`` keep the work in a thread of the worker's process."""
    return os.environ.get(variable, "1").strip().lower() not in ("0", "false", "no", "off")


def _sendable(exc: BaseException) -> BaseException:
    """``exc`` if it pickles, else a RuntimeError with its text (the worker logs the reason)."""
    try:
        ForkingPickler.dumps(exc)
    except Exception:
        return RuntimeError(repr(exc))
    return exc


def _serve(conn: Connection, initializer: Callable[..., None], initargs: tuple[Any, ...]) -> None:
    """The helper process: the initializer, then one call after the other until the pipe closes
    (the worker closed it or exited)."""
    try:
        initializer(*initargs)
    except BaseException as exc:
        conn.send((0, False, _sendable(exc)))
        return
    conn.send((0, True, os.getpid()))
    while True:
        try:
            seq, fn, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply = (seq, True, fn(*args))
        except BaseException as exc:
            reply = (seq, False, _sendable(exc))
        conn.send(reply)


class HelperProcess:
    """One process, one call at a time, in the order of the calls."""

    def __init__(self, initializer: Callable[..., None], *initargs: Any) -> None:
        self.initializer = initializer
        self.initargs = initargs
        self._proc: Any = None
        self._conn: Connection | None = None
        self._ready: Future[int] | None = None
        self._seq = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._unanswered: set[int] = set()  # calls sent whose reply was not read yet
        self._sender: ThreadPoolExecutor | None = None

    def _spawn(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(child, self.initializer, self.initargs), daemon=True)
        proc.start()
        child.close()
        ready: Future[int] = Future()

        def wait_ready() -> None:  # (in a thread: the process's imports take a second or two)
            try:
                _, ok, value = parent.recv()
            except (EOFError, OSError):
                ready.set_exception(BrokenProcessPool("the helper process died while starting"))
                return
            if ok:
                ready.set_result(value)
            else:
                ready.set_exception(value)

        threading.Thread(target=wait_ready, name="attain-helper-start", daemon=True).start()
        self._proc, self._conn, self._ready = proc, parent, ready

    def start(self) -> Future[int]:
        """Start the process now (unless it was): a future of its pid, once it is ready."""
        if self._proc is None:
            self._spawn()
        assert self._ready is not None
        return self._ready

    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Await ``fn(*args)`` in the process (a module-level function; arguments and result
        pickled). A call to a process that died (before or during the call) fails with
        :class:`BrokenProcessPool`; the next call runs in a new process."""
        ready = self.start()
        try:
            if not ready.done():
                await asyncio.wrap_future(ready)
            ready.result()  # (a process that failed to start: its error)
        except BrokenProcessPool:
            self.restart()
            raise
        # (from here to the send nothing awaits: calls are sent in the order they were made)
        if not self._proc.is_alive():
            self.restart()
            raise BrokenProcessPool("the helper process died")
        conn = self._conn
        assert conn is not None
        loop = asyncio.get_running_loop()
        seq = next(self._seq)
        fut: asyncio.Future[Any] = loop.create_future()
        if not self._waiting:
            loop.add_reader(conn.fileno(), self._readable, conn)
        self._waiting[seq] = fut
        data = ForkingPickler.dumps((seq, fn, args))
        if not self._unanswered:
            # The process waits for a call and reads it at once: sent from here.
            try:
                conn.send_bytes(data)
            except (OSError, ValueError):
                self._fail(conn)
        else:
            # The process is busy with an earlier call and may be sending its reply, which
            # this loop reads: a send from here could fill the pipe and wait for the process
            # while the process waits for this loop (both blocked). One thread sends, in order.
            if self._sender is None:
                self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="attain-helper-send")
            sending = loop.run_in_executor(self._sender, conn.send_bytes, data)
            sending.add_done_callback(lambda f: None if f.cancelled() or f.exception() is None
                                      else self._fail(conn))
        self._unanswered.add(seq)
        try:
            return await fut
        except BrokenProcessPool:
            self.restart()
            raise
        finally:
            if self._waiting.pop(seq, None) is not None and not self._waiting and self._conn is conn:
                loop.remove_reader(conn.fileno())

    def _readable(self, conn: Connection) -> None:
        """A reply (or the end of the pipe): resolve the call it answers. A reply to a call
        that was cancelled meanwhile (the worker shutting down) is dropped."""
        try:
            seq, ok, value = conn.recv()
        except (EOFError, OSError):
            self._fail(conn)
            return
        self._unanswered.discard(seq)
        fut = self._waiting.pop(seq, None)
        if not self._waiting:
            asyncio.get_running_loop().remove_reader(conn.fileno())
        if fut is None or fut.done():
            return
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)

    def _fail(self, conn: Connection) -> None:
        """The process died: every call waiting on it fails (not those on a newer one)."""
        if self._conn is not None and conn is not self._conn:
            return
        try:
            asyncio.get_running_loop().remove_reader(conn.fileno())
        except (OSError, ValueError):
            pass
        waiting, self._waiting = self._waiting, {}
        self._unanswered.clear()
        for fut in waiting.values():
            if not fut.done():
                fut.set_exception(BrokenProcessPool("the helper process died"))

    def restart(self) -> None:
        """After the process died: a new one for the next call."""
        self._stop(wait=0.0)

    def close(self) -> None:
        self._stop(wait=10.0)

    def _stop(self, wait: float) -> None:
        proc, conn = self._proc, self._conn
        self._proc = self._conn = self._ready = None
        self._unanswered.clear()
        sender, self._sender = self._sender, None
        if sender is not None:
            sender.shutdown(wait=False, cancel_futures=True)
        if conn is not None:
            if self._waiting:  # (closing while calls wait: they fail, the reader goes)
                try:
                    self._fail(conn)
                except RuntimeError:  # no running loop: nothing was registered on one
                    pass
            conn.close()  # the process's next read ends: it exits
        if proc is not None:
            proc.join(wait)
            if proc.is_alive():
                proc.kill()
                proc.join(5.0)


__all__ = ["BrokenProcessPool", "HelperProcess", "enabled"]
