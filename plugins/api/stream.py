"""``GET /api/v1/stream``: server-sent events of changed KPI rows, per tenant.

The API processes events itself (the embedded engine), so after a ``POST /api/v1/events`` it
knows which KPI cells the batch changed (:attr:`attain.core.Result.changed_cells`): the rep rows
of those cells' owners are read once and pushed to every subscriber of the tenant, each
receiving only the rows its scope may see (a rep token: its own row).

An event is ``event: kpi`` with ``data: {"by": "rep", "rows": [...]}`` (the rows of
``GET /api/v1/kpis?by=rep``); a comment line every ``heartbeat`` seconds keeps proxies from
closing an idle stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from attain.core import output

from .scope import Scope

QUEUE_SIZE = 100


@dataclass(eq=False)
class Subscriber:
    scope: Scope
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))


class Hub:
    """The subscribers of each tenant; :meth:`publish` runs on the server's event loop."""

    def __init__(self) -> None:
        self.subscribers: dict[str, set[Subscriber]] = {}

    def subscribe(self, scope: Scope) -> Subscriber:
        sub = Subscriber(scope)
        self.subscribers.setdefault(scope.tenant, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.get(sub.scope.tenant, set()).discard(sub)

    def listening(self, tenant: str) -> bool:
        return bool(self.subscribers.get(tenant))

    def publish(self, tenant: str, rows: list[dict[str, Any]]) -> None:
        for sub in list(self.subscribers.get(tenant, ())):
            mine = [r for r in rows if sub.scope.sees(str(r["key"]))]
            if not mine:
                continue
            try:
                sub.queue.put_nowait({"by": "rep", "rows": mine})
            except asyncio.QueueFull:  # a client that does not read: drop it
                self.unsubscribe(sub)


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {output.dumps(data, indent=None)}\n\n"


async def events(hub: Hub, sub: Subscriber, heartbeat: float = 15.0) -> AsyncIterator[str]:
    """The text of one subscriber's stream until the client goes away."""
    try:
        yield sse("ready", {"tenant": sub.scope.tenant, "role": sub.scope.role})
        while True:
            try:
                item = await asyncio.wait_for(sub.queue.get(), heartbeat)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            yield sse("kpi", item)
    finally:
        hub.unsubscribe(sub)
