"""Cutting an input stream into batches (one transaction each)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

_PAUSE = object()


def batched(items: Iterable[Any], size: int, linger: float | None = None) -> Iterator[list[Any]]:
    """Lists of at most ``size`` items. With ``linger``, a batch is also closed when no new item
    arrived for ``linger`` seconds (as a Kafka producer's ``linger.ms``): a live pipe is processed
    as it flows instead of waiting for ``size`` items or the end of input."""
    batch: list[Any] = []
    for it in (items if linger is None else _with_pauses(items, linger)):
        if it is _PAUSE:
            if batch:
                yield batch
                batch = []
            continue
        batch.append(it)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class _Failure:
    exc: BaseException


def _with_pauses(items: Iterable[Any], linger: float) -> Iterator[Any]:
    """``items`` (read on a helper thread), with :data:`_PAUSE` whenever none arrived for
    ``linger`` seconds."""
    q: queue.Queue[Any] = queue.Queue(maxsize=10000)
    end = object()

    def pump() -> None:
        try:
            for it in items:
                q.put(it)
        except BaseException as exc:  # re-raised on the consuming side
            q.put(_Failure(exc))
        finally:
            q.put(end)

    threading.Thread(target=pump, name="attain-read", daemon=True).start()
    while True:
        try:
            it = q.get(timeout=linger)
        except queue.Empty:
            yield _PAUSE
            continue
        if it is end:
            return
        if isinstance(it, _Failure):
            raise it.exc
        yield it
