"""Where a sync's events go: the embedded engine, Kafka (``--publish``), or nowhere (``--dry-run``).

Every sink takes one page's events with a ``commit(conn)`` callback that writes the sync's state
(the high-water mark, the facts sent) on a connection to the store:

* :class:`EngineSink` runs it inside the batch's own transaction (``Engine.process(...,
  in_transaction=commit)``): the events and the mark commit together or not at all;
* :class:`KafkaSink` runs it in a transaction of its own once the broker acknowledged every
  event of the page (acks=all, idempotent producer): a crash in between re-sends the page, whose
  events the worker takes as duplicates;
* :class:`DryRunSink` validates the events and never calls it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from attain.core import Engine, Record, Result
from attain.core.models import Account, Product, Rep
from sqlalchemy.engine import Connection

Commit = Callable[[Connection], None]


class Sink(Protocol):
    result: Result

    def dimensions(self, reps: Sequence[Rep], accounts: Sequence[Account],
                   products: Sequence[Product]) -> None: ...

    def events(self, records: list[Record], commit: Commit) -> None: ...

    def state(self, commit: Commit) -> None:
        """Write sync state that comes with no events (a reference object's mark)."""
        ...

    def close(self) -> None: ...


@dataclass
class EngineSink:
    engine: Engine
    tenant: str
    result: Result = field(default_factory=Result)

    def dimensions(self, reps: Sequence[Rep], accounts: Sequence[Account],
                   products: Sequence[Product]) -> None:
        self.engine.save_dimensions(self.tenant, reps, accounts, products)

    def events(self, records: list[Record], commit: Commit) -> None:
        self.result.add(self.engine.process(records, tenant=self.tenant, default_tenant=self.tenant,
                                            in_transaction=commit))

    def state(self, commit: Commit) -> None:
        with self.engine.store.transaction() as conn:  # the mark is read, then moved
            commit(conn)

    def close(self) -> None:
        pass


@dataclass
class DryRunSink:
    engine: Engine
    tenant: str
    result: Result = field(default_factory=Result)

    def dimensions(self, reps: Sequence[Rep], accounts: Sequence[Account],
                   products: Sequence[Product]) -> None:
        pass

    def events(self, records: list[Record], commit: Commit) -> None:
        good, bad = self.engine.validate(records, self.tenant)
        self.result.accepted += len(good)  # "valid": nothing is written
        self.result.rejected += len(bad)

    def state(self, commit: Commit) -> None:
        pass

    def close(self) -> None:
        pass


class KafkaSink:
    """Publishes to ``attain.events`` (the reference data is saved to the store directly, as
    ``attain publish`` does). Built on :mod:`attain.streams`' producer settings and encoding."""

    def __init__(self, engine: Engine, tenant: str) -> None:
        from attain.streams.admin import ensure_topics
        from attain.streams.config import StreamConfig

        self.engine = engine
        self.tenant = tenant
        self.result = Result()
        self.published = 0
        self.cfg = StreamConfig.from_env()
        ensure_topics(self.cfg)
        self._loop = asyncio.new_event_loop()
        self._producer: Any = None

    async def _start(self) -> Any:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(bootstrap_servers=self.cfg.brokers, acks="all",
                                    enable_idempotence=True, linger_ms=5, client_id="attain-salesforce")
        await producer.start()
        return producer

    async def _send(self, items: list[tuple[bytes | None, bytes]]) -> None:
        futs = [await self._producer.send(self.cfg.events_topic, value, key=key) for key, value in items]
        await asyncio.gather(*futs)

    def dimensions(self, reps: Sequence[Rep], accounts: Sequence[Account],
                   products: Sequence[Product]) -> None:
        self.engine.save_dimensions(self.tenant, reps, accounts, products)

    def events(self, records: list[Record], commit: Commit) -> None:
        from attain.streams.publish import record_items

        if self._producer is None:
            self._producer = self._loop.run_until_complete(self._start())
        items = list(record_items(records))
        self._loop.run_until_complete(self._send(items))  # every event acknowledged (acks=all)
        self.published += len(items)
        self.state(commit)

    def state(self, commit: Commit) -> None:
        with self.engine.store.transaction() as conn:  # the mark is read, then moved
            commit(conn)

    def close(self) -> None:
        if self._producer is not None:
            self._loop.run_until_complete(self._producer.stop())
            self._producer = None
        self._loop.close()
