"""Goal status changes for ``GET /api/v1/stream``, taken from the goals plugin's public
notifications (``attain_notify`` with kind ``goal.status_changed``, docs/goals.md), not from its
internals.

The goals plugin re-evaluates goals inside :meth:`attain.core.Engine.process` (its
``attain_batch_processed`` hook), on the thread that processes the batch. ``POST /api/v1/events``
processes its batch inside :func:`collecting`; this plugin's ``attain_notify`` adds each change
notified on that thread to the collection, and the route pushes them to the tenant's subscribers
once the batch committed. A notification outside a collection (the CLI, a worker) is ignored.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

KIND = "goal.status_changed"
#: what an SSE ``goal`` event carries of a change (the goals plugin's progress row fields)
FIELDS = ("id", "owner", "metric", "period", "previous_status", "status", "actual", "target",
          "attainment", "expected_attainment", "as_of")


class _Local(threading.local):
    changes: list[dict[str, Any]] | None = None
    tenant: str | None = None


_local = _Local()


@contextmanager
def collecting(tenant: str) -> Iterator[list[dict[str, Any]]]:
    """The goal status changes of ``tenant`` notified on this thread while the block runs."""
    changes: list[dict[str, Any]] = []
    outer = (_local.changes, _local.tenant)
    _local.changes, _local.tenant = changes, tenant
    try:
        yield changes
    finally:
        _local.changes, _local.tenant = outer


def notified(tenant: str, kind: str, payload: dict[str, Any]) -> None:
    """``attain_notify``: keep a ``goal.status_changed`` of the collecting tenant."""
    if kind != KIND or _local.changes is None or tenant != _local.tenant:
        return
    _local.changes.append({f: payload.get(f) for f in FIELDS})
