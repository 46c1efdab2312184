"""``GET /api/v1/stream``: server-sent events of changed KPI rows and goal status changes, per tenant.

The API processes events itself (the embedded engine), so after a ``POST /api/v1/events`` it
knows which KPI cells the batch changed (:attr:`attain.core.Result.changed_cells`): the rep rows
of those cells' owners are read once and pushed to every subscriber of the tenant, each
receiving only the rows its scope may see (a rep token: its own row).

An event is ``event: kpi`` with ``data: {"by": "rep", "rows": [...]}`` (the rows of
``GET /api/v1/kpis?by=rep``), or ``event: goal`` with one goal whose status the batch changed
(``{"id", "owner", "previous_status", "status", …}``, from the goals plugin's
``goal.status_changed`` notifications: :mod:`.goal_feed`), sent to the subscribers whose scope
sees the goal's owner (``Scope.sees_owner``: a rep its own goals, a manager its team's and its
reps'); a comment line every ``heartbeat`` seconds keeps proxies from closing an idle stream.
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
    #: ``(event, data)`` items
    queue: asyncio.Queue[tuple[str, Any]] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))


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
        """Changed rep rows: each subscriber gets those of the reps it sees."""
        for sub in list(self.subscribers.get(tenant, ())):
            mine = [r for r in rows if sub.scope.sees(str(r["key"]))]
            if mine:
                self._put(sub, "kpi", {"by": "rep", "rows": mine})

    def publish_goals(self, tenant: str, changes: list[dict[str, Any]]) -> None:
        """Goal status changes: one ``goal`` event per change its subscriber's scope sees."""
        for sub in list(self.subscribers.get(tenant, ())):
            for change in changes:
                if sub.scope.sees_owner(str(change["owner"])) and not self._put(sub, "goal", change):
                    break

    def _put(self, sub: Subscriber, event: str, data: Any) -> bool:
        try:
            sub.queue.put_nowait((event, data))
        except asyncio.QueueFull:  # a client that does not read: drop it
            self.unsubscribe(sub)
            return False
        return True


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {output.dumps(data, indent=None)}\n\n"


async def events(hub: Hub, sub: Subscriber, heartbeat: float = 15.0,
                 ready: dict[str, Any] | None = None) -> AsyncIterator[str]:
    """The text of one subscriber's stream until the client goes away (``ready``: more fields of
    the first event, ``kpi_updates`` when the stream follows ``attain.kpi-updates``)."""
    try:
        yield sse("ready", {"tenant": sub.scope.tenant, "role": sub.scope.role, **(ready or {})})
        while True:
            try:
                event, data = await asyncio.wait_for(sub.queue.get(), heartbeat)
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            yield sse(event, data)
    finally:
        hub.unsubscribe(sub)
