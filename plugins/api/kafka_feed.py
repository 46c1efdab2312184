"""``GET /api/v1/stream`` fed by ``attain.kpi-updates`` as well, when stream workers process the
events (``ATTAIN_API_KPI_UPDATES=1``, docs/api.md).

The API reads the topic as any consumer may (its documented message format, docs/streams.md:
``{"tenant", "grouping", "computed_at", "offsets", "rows"}``), with its own aiokafka consumer
(no consumer group: every API process reads every message, from the end of the topic when it
starts). The ``rep`` grouping's rows go to the tenant's subscribers through the same
:class:`~.stream.Hub` as the rows of ``POST /api/v1/events``, each subscriber getting the rows of
the reps its token sees. The consumer starts with the first subscriber; a broker that cannot be
reached is logged and retried, the stream's own rows still flow.
"""

from __future__ import annotations

import asyncio
import json
import logging
from decimal import Decimal
from typing import Any

from .stream import Hub

log = logging.getLogger("attain.api")

RETRY = 5.0  # seconds between attempts to reach the broker


class KafkaFeed:
    """One consumer of ``topic`` for one :class:`Hub` (started by :meth:`ensure`)."""

    def __init__(self, hub: Hub, bootstrap: str, topic: str) -> None:
        self.hub = hub
        self.bootstrap = bootstrap
        self.topic = topic
        self.ready = asyncio.Event()  # (an Event binds to the running loop on first wait)
        self.task: asyncio.Task[None] | None = None

    def ensure(self) -> None:
        """Start the consumer on the running loop, unless it runs."""
        if self.task is None or self.task.done():
            self.ready = asyncio.Event()
            self.task = asyncio.get_running_loop().create_task(self._run(), name="attain-kpi-updates")

    async def wait_ready(self, timeout: float) -> bool:
        """True once the consumer is positioned at the end of every partition of the topic."""
        try:
            await asyncio.wait_for(self.ready.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("reading %s from %s failed (%s: %s); retrying in %.0f s", self.topic,
                            self.bootstrap, type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "",
                            RETRY)
                await asyncio.sleep(RETRY)

    async def _consume(self) -> None:
        from aiokafka import AIOKafkaConsumer  # the streams extra (docs/api.md)

        consumer = AIOKafkaConsumer(self.topic, bootstrap_servers=self.bootstrap.split(","), group_id=None,
                                    auto_offset_reset="latest", enable_auto_commit=False,
                                    client_id="attain-api-kpi-updates")
        await consumer.start()
        try:
            while not consumer.assignment():
                await asyncio.sleep(0.1)
            for tp in consumer.assignment():
                await consumer.position(tp)  # resolves "latest" now: what comes next is new
            self.ready.set()
            async for msg in consumer:
                self.deliver(msg.value)
        finally:
            await consumer.stop()

    def deliver(self, value: bytes | None) -> None:
        """One message of the topic: its ``rep`` rows to the tenant's subscribers."""
        try:
            data = json.loads(value or b"", parse_float=Decimal)
        except ValueError:
            log.warning("a message of %s is not JSON: skipped", self.topic)
            return
        if not isinstance(data, dict) or data.get("grouping") != "rep" or not isinstance(data.get("rows"), list):
            return
        tenant = str(data.get("tenant") or "")
        if not self.hub.listening(tenant):
            return
        # (the rows of attain kpi --by rep: the figures of GET /api/v1/kpis?by=rep)
        rows: list[dict[str, Any]] = [r for r in data["rows"] if isinstance(r, dict) and "key" in r]
        if rows:
            self.hub.publish(tenant, rows)
