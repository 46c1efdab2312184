"""Re-reading what Faust skipped or what Kafka's committed offsets are ahead of: on assignment
(:meth:`Repair._resume_from_store`) and when a batch jumps over offsets (:meth:`Repair._check_skips`),
the range is read again with a plain consumer and processed in offset order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from attain.core import Result, Store
from faust.types import EventT

from .config import StreamConfig
from .lifecycle import fatal, say
from .metrics import Stats
from .offsets import OffsetLedger

log = logging.getLogger("attain.streams")


class Repair:
    """The worker's repair of skipped offset ranges (mixed into :class:`~.worker.StreamWorker`)."""

    app: Any
    cfg: StreamConfig
    store: Store
    stats: Stats
    ledger: OffsetLedger
    sql_read: ThreadPoolExecutor
    _next: dict[int, int]
    _repairs: asyncio.Queue[tuple[int, int, int]]
    _dirty: asyncio.Event
    _process_messages: Callable[[Sequence[Any]], Awaitable[Result]]

    def _check_skips(self, events: Sequence[EventT]) -> list[tuple[int, int, int]]:
        """The ranges ``(partition, first, last)`` a batch's offsets jumped over.

        Faust's fetch can resume past records after a rebalance (the first record after the
        reassignment lies beyond the committed offset, or offsets jump later on). The store
        never records such records as processed (its offset stops at the first one missing);
        the agent re-reads and processes them in their place (:func:`offset_order`).
        """
        consumer = self.app.kafka_commits.consumer
        gaps: list[tuple[int, int, int]] = []
        for ev in events:
            p, o = ev.message.partition, ev.message.offset
            expected = self._next.get(p)
            if expected is None:  # the first since the assignment: the first unprocessed offset
                expected = self.ledger.next_offset(p)
                if expected is None and consumer is not None:  # (the store not read yet)
                    committed = consumer._committed_offset.get(ev.message.tp)
                    expected = committed if committed is not None and committed >= 0 else None
            if expected is not None and o > expected:
                log.warning("offsets %d..%d of %s[%d] were skipped by the fetch; re-reading them",
                            expected, o - 1, self.cfg.events_topic, p)
                gaps.append((p, expected, o - 1))
            if expected is None or o >= expected:
                self._next[p] = o + 1
        return gaps

    # -- the store is the authority for consumed offsets ----------------------------------------

    async def _resume_from_store(self, partitions: list[int]) -> None:
        """On assignment: never resume past what the store says is processed.

        For each assigned partition the ledger learns the store's next offset (the partition's
        first offset when the store has none). Faust starts at Kafka's committed offset; if that
        lies beyond the store's, the range between is re-read and processed (redelivery is
        harmless: the store deduplicates by event id). Faust may already be delivering while this
        runs (its recovery seeks and resumes the flow before this signal is sent); that is fine:
        the agent's batches and the re-read are independent, and the ledger joins them up.
        """
        if not partitions:
            return
        topic = self.cfg.events_topic
        loop = asyncio.get_running_loop()
        stored = await loop.run_in_executor(self.sql_read, self.store.stream_offsets,
                                            self.cfg.app_id, topic)
        committed, first = await self._kafka_offsets(partitions)
        for p in partitions:
            begin = first.get(p, 0)
            base = stored.get(p, begin)
            if base < begin:
                log.error("offsets %d..%d of %s[%d] were deleted (retention) before they were "
                          "processed", base, begin - 1, topic, p)
                base = begin
            self.ledger.load(p, base)
            base = self.ledger.next_offset(p) or base
            start = committed.get(p, begin)
            if start < begin:
                start = begin
            if start > base:
                self.stats.resume_repairs += 1
                say(f"Kafka's committed offset {start} of {topic}[{p}] is past the store's {base}: "
                    f"re-reading offsets {base}..{start - 1}")
                self._repairs.put_nowait((p, base, start - 1))

    async def _kafka_offsets(self, partitions: list[int]) -> tuple[dict[int, int], dict[int, int]]:
        """Kafka's committed offsets of the worker's group and the first offsets of ``partitions``."""
        from aiokafka import AIOKafkaConsumer, TopicPartition
        from aiokafka.admin import AIOKafkaAdminClient

        tps = [TopicPartition(self.cfg.events_topic, p) for p in partitions]
        admin = AIOKafkaAdminClient(bootstrap_servers=self.cfg.brokers,
                                    client_id=f"{self.cfg.app_id}-offsets")
        await admin.start()
        try:
            got = await admin.list_consumer_group_offsets(self.cfg.app_id, partitions=tps)
        finally:
            await admin.close()
        committed = {tp.partition: om.offset for tp, om in got.items() if om.offset >= 0}
        reader = AIOKafkaConsumer(bootstrap_servers=self.cfg.brokers, group_id=None,
                                  enable_auto_commit=False, client_id=f"{self.cfg.app_id}-offsets")
        await reader.start()
        try:
            first = await reader.beginning_offsets(tps)
        finally:
            await reader.stop()
        return committed, {tp.partition: o for tp, o in first.items()}

    async def _repair_loop(self) -> None:
        while True:
            p, start, end = await self._repairs.get()
            try:
                await self._repair(p, start, end)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                fatal(f"re-reading offsets {start}..{end} of partition {p} failed: {exc!r}", exc)

    async def _repair(self, p: int, start: int, end: int) -> None:
        """Read offsets ``start..end`` of partition ``p`` directly and process them, a batch at a
        time, each batch's offsets recorded in its transaction like the agent's."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        tp = TopicPartition(self.cfg.events_topic, p)
        reader = AIOKafkaConsumer(bootstrap_servers=self.cfg.brokers, group_id=None,
                                  enable_auto_commit=False, client_id=f"{self.cfg.app_id}-repair")
        await reader.start()
        n = 0
        try:
            end = min(end, (await reader.end_offsets([tp]))[tp] - 1)
            reader.assign([tp])
            reader.seek(tp, start)
            while start <= end:
                batch = (await reader.getmany(tp, timeout_ms=1000,
                                              max_records=self.cfg.batch_size)).get(tp, [])
                msgs = [m for m in batch if m.offset <= end]
                if msgs:
                    total = await self._process_messages(msgs)
                    self.stats.add(total, len(msgs))
                    n += len(msgs)
                    self._dirty.set()
                if batch:
                    start = batch[-1].offset + 1
                elif await reader.position(tp) > end:
                    break
        finally:
            await reader.stop()
        self.stats.repaired += n
        log.warning("re-read and processed offsets up to %d of %s[%d] (%d events)", end,
                    tp.topic, p, n)
