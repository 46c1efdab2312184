"""The Faust worker: ``attain.events`` → :meth:`Engine.process` → store, dead letters, KPI updates.

Delivery guarantees (details in docs/streams.md)
------------------------------------------------
At-least-once consumption into an idempotent, atomic sink, with the SQL store as the authority
for which offsets are consumed:

* One agent, ``concurrency=1``, takes events (``stream.noack_take(...)``) while one task,
  ``_dispatch``, hands them to the engine: one batch in flight per worker, a partition's events
  in offset order, the next batch's events read from Kafka while a batch is written.
* Each ``Engine.process`` call (in the writer process, :mod:`.batch_writer`) is one SQL
  transaction: event-id dedupe, per-deal version guard,
  deal snapshots, KPI cell deltas, counters, dead letters *and* the partitions' next offsets
  (``stream_offsets``, via ``in_transaction=``). :class:`OffsetLedger` decides which offsets a
  transaction may record: a partition's next offset only moves over a contiguous run of processed
  offsets, so "every offset below N is processed" is always true of the store.
* On every assignment (start-up included) :meth:`StreamWorker._resume_from_store` reads the
  store's offsets and Kafka's committed ones; where Kafka's is ahead (a crash between an old
  commit and the store, another tool committing, an older worker version), the range between is
  re-read with a plain aiokafka consumer and processed (``_repair``). Where Kafka's is behind,
  Faust redelivers what the store already has: counted as duplicates, harmless.
* ``_check_skips`` / ``_repair``: Faust's fetch can resume past records after a rebalance; a jump
  in a partition's offsets (against the store's next offset) is re-read the same way, by the
  agent, in its place (:func:`offset_order`: the batch's offsets below the range, the range, the
  rest), so a partition is still processed in offset order.
* :class:`KafkaCommits` (the one patch of Faust's consumer that is left): Faust commits, for this
  topic, exactly the store's next offsets (after the batch's dead letters were delivered), never
  its own ack-based choice, which can pass records the agent never processed (it acks messages it
  drops around a rebalance, commits over jumps in offsets, and has the head-of-queue bug
  faust-streaming #606). The earlier gate also patched ``ack`` and ``_add_gap``; those only fed
  that choice, so they are gone. Why the patch is still worth having although the store alone
  would be safe: Kafka's committed offset is where Faust resumes after each rebalance; kept at or
  behind the store's it never needs a repair at assignment, and consumer-group lag is true.
* ``processing_guarantee`` stays ``at_least_once`` (Faust's exactly-once mode has open bugs, and
  the store's transaction already makes redelivery harmless).

The changelog-backed Faust table ``deal-state`` (``tenant|deal_id`` → the deal's latest accepted
snapshot, JSON) holds each deal's latest state on the worker that owns its partition; its
changelog topic is the per-deal state as a compacted stream, so another worker (or any consumer)
rebuilds it after a rebalance. Its writes follow the store's transaction (only snapshots the store
accepted go in), so it never disagrees with the store, which stays the authority for the version
guard and the KPI deltas (they must commit in one transaction with the offsets).
``ATTAIN_STREAM_TABLE=0`` turns the table off (see docs/streams.md: faust-streaming #432, a
changelog recovery that can hang after a rebalance, was seen once during development).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, cast

import faust
from attain.core import Engine, Record, Result, Store, get_plugins
from attain.core.kpi import CellKey
from faust.serializers.codecs import dumps as codec_dumps
from faust.streams import Stream
from faust.types import TP, EventT

from . import codec
from .admin import ensure_topics
from .batch_writer import State, WriterProcess, write_batch
from .config import StreamConfig
from .helper_process import enabled
from .kpi_publisher import KpiPublisher
from .kpi_rounds import RoundProcess, in_thread
from .lifecycle import fatal, say
from .messages import offset_order, produced_at, records_of, source_of
from .metrics import Stats
from .offsets import KafkaCommits, OffsetLedger
from .repair import Repair

log = logging.getLogger("attain.streams")

__all__ = ["KafkaCommits", "OffsetLedger", "StreamWorker", "offset_order", "run_worker"]

TABLE = "deal-state"
GC_FREEZE_EVERY = 10.0  # seconds
GC_FULL_EVERY = 60  # freezes (10 minutes)


class _App(faust.App):
    kafka_commits: KafkaCommits
    fetch: tuple[int, int]  # fetch.min.bytes, fetch.max.wait.ms

    def _new_consumer(self) -> Any:
        consumer = super()._new_consumer()
        self.kafka_commits.install(consumer)
        # Faust creates its aiokafka consumer with fetch_max_wait_ms=1500 and Kafka's default
        # fetch_min_bytes=1 and has no setting for either; the aiokafka consumer reads both when
        # it starts (its Fetcher), so they are set on it between creation and start.
        thread = cast(Any, consumer)._thread
        create = thread._create_consumer
        min_bytes, max_wait = self.fetch

        def create_consumer(loop: Any) -> Any:
            kafka = create(loop=loop)
            kafka._fetch_min_bytes, kafka._fetch_max_wait_ms = min_bytes, max_wait
            return kafka

        thread._create_consumer = create_consumer
        return consumer


class StreamWorker(Repair, KpiPublisher):
    """Builds the Faust app around one :class:`Engine` and runs it."""

    def __init__(self, cfg: StreamConfig, db_url: str | None, *, partitions: int | None = None,
                 web_port: int | None = None, retries: int | None = None,
                 kpi_interval: float | None = None) -> None:
        self.cfg = cfg
        self.store = Store(db_url)
        # Batches and KPI rounds each in a process of their own, unless
        # ATTAIN_STREAM_WRITER_PROCESS=0 / ATTAIN_KPI_PROCESS=0 (batch_writer.py, kpi_rounds.py)
        self.writer = WriterProcess(self.store.url) if enabled("ATTAIN_STREAM_WRITER_PROCESS") else None
        if self.writer is None:
            # SQLite: the write-ahead log is copied back by a thread of its own, not in the
            # commit of whichever batch fills it (that batch's events waited for the copy and
            # its fsync); the writer process does the same for its own store
            self.store.checkpoint_in_background()
        self.engine = Engine(self.store, get_plugins())
        self.retries = retries if retries is not None else int(os.environ.get("ATTAIN_STREAM_RETRIES", "5"))
        self.kpi_interval = (kpi_interval if kpi_interval is not None
                             else float(os.environ.get("ATTAIN_KPI_INTERVAL", "0.02")))
        # Without the helper processes, two threads: batches are written by one (one transaction
        # at a time, in order), KPI rows are read by the other (and stored offsets, by repairs)
        self.sql = ThreadPoolExecutor(max_workers=1, thread_name_prefix="attain-sql")
        self.sql_read = ThreadPoolExecutor(max_workers=1, thread_name_prefix="attain-kpi")
        self.rounds = in_thread(self.store, self.engine)
        self.round_process = RoundProcess(self.store.url) if enabled("ATTAIN_KPI_PROCESS") else None
        self.stats = Stats()
        self.stats.hooks = [(p["name"], h) for p in self.engine.plugins.info() for h in p["hooks"]]
        self.partitions = partitions or cfg.partitions
        self._pending: dict[str, set[CellKey]] = {}
        self._pending_offsets: dict[int, int] = {}
        #: the Kafka timestamps of the accepted events the pending KPI update will reflect
        self._pending_times: list[float] = []
        self._dirty = asyncio.Event()
        self._backlog = False  # events were waiting behind the agent's last batch (see _waiting)
        self._out: Any = None
        self._out_lock = asyncio.Lock()
        self._closing = False
        self._next: dict[int, int] = {}  # partition -> the next offset the agent should see
        self.ledger = OffsetLedger()
        self._repairs: asyncio.Queue[tuple[int, int, int]] = asyncio.Queue()
        #: events the agent took that _dispatch has not handed to handle() yet
        self._taken: list[EventT] = []
        self._arrived = asyncio.Event()  # events were taken
        self._room = asyncio.Event()  # _taken went below a batch's size
        self.app = self._build_app(web_port)

    # -- the Faust app ---------------------------------------------------------------------------

    def _build_app(self, web_port: int | None) -> _App:
        cfg = self.cfg
        datadir = cfg.faust_datadir() / cfg.app_id
        datadir.mkdir(parents=True, exist_ok=True)
        app = _App(
            cfg.app_id,
            broker=[f"kafka://{b}" for b in cfg.brokers],
            store="memory://",
            datadir=str(datadir),
            topic_partitions=self.partitions,
            topic_replication_factor=cfg.replication,
            processing_guarantee="at_least_once",
            consumer_auto_offset_reset="earliest",
            broker_session_timeout=cfg.session_timeout,
            broker_heartbeat_interval=max(0.5, min(3.0, cfg.session_timeout / 5)),
            broker_commit_interval=1.0,
            web_enabled=web_port is not None,
            web_port=web_port or 6066,
            web_in_thread=False,
        )
        app.kafka_commits = KafkaCommits(cfg.events_topic)
        app.fetch = (cfg.fetch_min_bytes, cfg.fetch_max_wait_ms)
        self.events_topic = app.topic(cfg.events_topic, key_type=bytes, value_type=bytes,
                                      key_serializer="raw", value_serializer="raw")
        # Per-deal latest state, changelog-backed; co-partitioned with attain.events (same key).
        self.table: Any = None
        if cfg.table:
            self.table = app.Table(TABLE, default=None, key_type=str, value_type=None,
                                   partitions=self.partitions,
                                   help="tenant|deal_id -> the deal's latest accepted snapshot")

        async def process_events(stream: faust.StreamT[Any]) -> None:
            # noack_take: Faust acks nothing; handle() acks each event after it is processed.
            # The agent only takes events; _dispatch hands them to handle() (see there).
            take = cast("Stream[Any]", stream).noack_take
            async for events in take(cfg.batch_size, within=cfg.batch_within):
                while len(self._taken) >= cfg.batch_size:  # a full batch waits: take no more
                    self._room.clear()
                    await self._room.wait()
                self._taken += events
                self._arrived.set()

        app.agent(self.events_topic, name="attain.process-events", concurrency=1)(process_events)
        app.task(self._dispatch)
        app.task(self._start_writer)
        app.task(self._publish_kpis)
        app.task(self._gc_maintenance)
        app.task(self._repair_loop)

        async def on_assigned(sender: Any, *args: Any, **kwargs: Any) -> None:
            assigned = args[0] if args else kwargs.get("assigned", ())
            mine = sorted(tp.partition for tp in assigned if tp.topic == cfg.events_topic)
            self._next = {}  # re-learnt from the offsets Faust seeks to
            await self._with_retries(partial(self._resume_from_store, mine))
            say(f"assigned partitions {mine} of {cfg.events_topic}")

        # (cast: mode's receiver type wants a keyword-only ``signal``; **kwargs takes it)
        app.on_partitions_assigned.connect(cast(Any, on_assigned))

        @app.page("/metrics")
        async def metrics(web: Any, request: Any) -> Any:
            size = len(self.table.data) if self.table is not None else 0
            text = self.stats.prometheus(cfg.app_id, size, dict(self.ledger.base), self._lag())
            return web.text(text, content_type="text/plain; version=0.0.4")

        async def on_shutdown(sender: Any, *args: Any, **kwargs: Any) -> None:
            self._closing = True  # from now on nobody may start a producer (see _producer)
            await self._close_producer()
            for helper in (self.writer, self.round_process):
                if helper is not None:
                    helper.close()

        app.on_before_shutdown.connect(cast(Any, on_shutdown))

        return app

    def _lag(self) -> dict[tuple[str, int], int]:
        """(topic, partition) → high-water mark − the store's next offset, for the partitions
        this worker owns now (``attain_consumer_lag``)."""
        consumer: Any = getattr(self.app, "consumer", None)
        out: dict[tuple[str, int], int] = {}
        if consumer is None:
            return out
        try:
            for tp in consumer.assignment():
                if tp.topic != self.cfg.events_topic:
                    continue
                high = consumer.highwater(tp)
                if high is not None and high >= 0:
                    out[(tp.topic, tp.partition)] = high - self.ledger.base.get(tp.partition, 0)
        except Exception:  # no consumer yet (starting, rebalancing): no lag to report
            return {}
        return out

    # -- one batch -------------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        """Hand the events the agent took to :meth:`handle`, one batch at a time, in the order
        they were taken: everything taken while the last batch was written (at most a batch's
        size), so the stream is read while the writer writes and a batch never waits for the
        agent's next take (measured: with the agent calling handle() itself, its take of the
        next batch and Faust's per-message work only began once the last batch was written)."""
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            while self._taken:
                n = self.cfg.batch_size
                events, self._taken = self._taken[:n], self._taken[n:]
                self._room.set()
                try:
                    await self.handle(events)
                except asyncio.CancelledError:
                    raise  # shutting down: the batch is not acked and is processed again later
                except Exception as exc:
                    # Never leave a batch unacked in a live process: its offsets could never be
                    # committed and a rebalance would wait for it forever. Exit instead; nothing
                    # past the last processed batch is committed, so a restart redelivers it.
                    fatal(f"processing a batch failed: {exc!r}", exc)

    async def handle(self, events: Sequence[EventT]) -> None:
        """Process one batch: store transaction(s) with the offsets, dead letters, then acks."""
        if not events:
            return
        msgs = [ev.message for ev in events]
        offsets: dict[int, int] = {}
        for msg in msgs:
            offsets[msg.partition] = max(offsets.get(msg.partition, -1), msg.offset)
        started = time.perf_counter()
        self._backlog = len(events) >= self.cfg.batch_size or self._waiting(offsets) >= self.cfg.batch_size
        if log.isEnabledFor(logging.DEBUG):
            oldest = min(msg.timestamp for msg in msgs)
            log.debug("batch of %d events; the oldest was produced %.1f ms ago", len(events),
                      (time.time() - oldest) * 1000)
        # A range Faust's fetch skipped is re-read and processed in its place: the batch's events
        # before it first, then the range, then the rest, so each partition is still processed
        # in offset order (a deal's versions are not reordered).
        total = Result()
        for segment, skipped in offset_order(msgs, self._check_skips(events)):
            if segment:
                total.add(await self._process_messages(segment))
            for part, first, last in skipped:
                await self._repair(part, first, last)
        self.stats.observe_batch(time.perf_counter() - started)

        # Settle the messages with Faust (a rebalance waits for unacked ones). The acks do not
        # decide what is committed to Kafka: KafkaCommits does, from the store's offsets.
        unacked = self.app.kafka_commits.consumer._unacked_messages \
            if self.app.kafka_commits.consumer is not None else set()
        for ev in events:
            ev.ack()
            unacked.discard(ev.message)

        s = self.stats
        s.batches += 1
        s.add(total, len(events))
        for p, o in offsets.items():
            s.last_offsets[p] = max(s.last_offsets.get(p, -1), o)
            self._pending_offsets[p] = max(self._pending_offsets.get(p, -1), o)
        self._dirty.set()

    def _waiting(self, offsets: dict[int, int]) -> int:
        """Events already in Kafka behind this batch on its partitions (from the highwater marks
        the consumer's last fetches returned; 0 when unknown). A backlog is a full batch's worth:
        then KPI rounds are paced for throughput, otherwise they follow the batches at once."""
        consumer = self.app.kafka_commits.consumer
        if consumer is None:
            return 0
        waiting = 0
        for p, o in offsets.items():
            try:
                hw = consumer.highwater(TP(self.cfg.events_topic, p))
            except Exception:  # not assigned (any more), no fetch yet
                continue
            if hw is not None:
                waiting += max(0, int(hw) - o - 1)
        return waiting

    async def _process_messages(self, msgs: Sequence[Any]) -> Result:
        """Process Kafka messages (the agent's or re-read ones): the store transaction(s) with
        their offsets, the dead letters, then the deal-state table."""
        groups, keys, taken = records_of(msgs)
        produced = {source_of(m): t for m in msgs if (t := produced_at(m)) is not None}
        total, latest = await self._run(groups, keys, taken, produced)
        if self.table is None or not latest:
            return total
        partition_of: dict[str, int] = {}
        for msg in msgs:
            key = keys[source_of(msg)]
            if key is not None:
                partition_of[key.decode("utf-8", "replace")] = msg.partition
        # The snapshots the store accepted, written to the table's partition (= the event's) and
        # to its changelog, as Table.__setitem__ would do.
        changelog: list[tuple[int, bytes, bytes]] = []
        for (tenant, deal_id), (version, state, value) in latest.items():
            k = f"{tenant}{codec.SEP}{deal_id}"
            p = partition_of.get(k)
            if p is None:  # keyed differently by a foreign producer: no partition to keep it in
                continue
            cur = self.table.data.get(k)
            if cur is None or version > cur["version"]:
                self.table.data[k] = state
                changelog.append((p, codec_dumps("json", k), value))
        if changelog:
            await self._send_partitioned(self.table.changelog_topic.get_topic_name(), changelog)
        return total

    async def _run(self, groups: dict[str, list[Record]], keys: dict[str, bytes | None],
                   taken: dict[str, dict[int, list[int]]], produced: Mapping[str, float] | None = None,
                   ) -> tuple[Result, dict[tuple[str, str], State]]:
        """One store transaction per tenant (each records its offsets), then the dead letters;
        then Kafka may be committed up to what the store now says is processed.

        ``produced``: each record's Kafka timestamp by source; those of the accepted events of a
        tenant whose KPI rows changed wait for the KPI update (``attain_event_to_kpi_seconds``)."""
        total = Result()
        rejected: list[tuple[str, str, str, str]] = []
        latest: dict[tuple[str, str], State] = {}
        released: dict[int, int] = {}
        times: list[float] = []
        for tenant, records in groups.items():
            res, rej, won, nxt, errors, ts = await self._with_retries(
                partial(self._write, records, tenant, taken.get(tenant, {}), produced or {}))
            total.add(res)
            self.stats.count_tenant(tenant, res)
            self.stats.count_plugin_errors(tenant, errors)
            times += ts
            rejected += rej
            latest.update(won)
            released.update(nxt)
        # Dead letters are delivered before Kafka may commit past them (at-least-once on that
        # topic: a restart re-reads from Kafka's committed offset, and invalid events are not
        # deduplicated, so they are dead-lettered again).
        if rejected:
            raw = {r.source: r.payload for rs in groups.values() for r in rs}
            await self._with_retries(partial(self._send_deadletters, rejected, keys, raw))
            self.stats.deadletters_sent += len(rejected)
        commits = self.app.kafka_commits.next
        for p, o in released.items():
            if o > commits.get(p, -1):
                commits[p] = o
        for tenant, cell in total.changed_cells:
            self._pending.setdefault(tenant, set()).add(cell)
        self._pending_times += times  # (with the cells: the same KPI round takes both)
        return total, latest

    async def _send_deadletters(self, rejected: list[tuple[str, str, str, str]],
                                keys: dict[str, bytes | None], raw: dict[str, Any]) -> None:
        producer = await self._producer()
        futs = [await producer.send(self.cfg.deadletter_topic,
                                    codec.deadletter_value(tenant, reason, payload, source,
                                                           raw.get(source)),
                                    key=keys.get(source))
                for tenant, reason, payload, source in rejected]
        await asyncio.gather(*futs)

    async def _write(self, records: list[Record], tenant: str, taken: dict[int, list[int]],
                     produced: Mapping[str, float],
                     ) -> tuple[Result, list[tuple[str, str, str, str]],
                                dict[tuple[str, str], State], dict[int, int],
                                dict[tuple[str, str], int], list[float]]:
        """One ``Engine.process`` call = one transaction, which also records the offsets it
        consumed (``taken``: partition -> offsets) in ``stream_offsets``: in the writer process
        (:mod:`.batch_writer`), or without one in the SQL thread.

        Returns the result (its counts and changed rows), the dead letters, the snapshots that
        won, the partitions' next offsets the store holds after the commit, the plugin failures
        the call caused (``(plugin, hook)`` → count, as the plugin manager isolated them) and the
        Kafka timestamps (from ``produced``, by source) of the accepted events if the call
        changed KPI rows."""
        group, topic = self.cfg.app_id, self.cfg.events_topic
        offsets = self.ledger.advance(taken)
        states = self.table is not None
        if self.writer is None:
            loop = asyncio.get_running_loop()
            written = await loop.run_in_executor(self.sql, write_batch, self.engine, records, tenant,
                                                 group, topic, offsets, produced, states)
        else:  # (a process that died: _with_retries writes the batch again in a new one)
            written = await self.writer.write(records, tenant, group, topic, offsets, produced, states)
        res, rejected, latest, errors, times = written
        self.ledger.apply(taken)
        nxt = {p: o for p in taken if (o := self.ledger.next_offset(p)) is not None}
        return res, rejected, latest, nxt, errors, times

    async def _start_writer(self) -> None:
        """Start the writer process with the app (its imports take a second or two), not at the
        first batch."""
        if self.writer is not None:
            await asyncio.wrap_future(self.writer.start())

    async def _with_retries(self, call: Callable[[], Any]) -> Any:
        delay = 0.5
        for attempt in range(self.retries + 1):
            try:
                return await call()
            except asyncio.CancelledError:
                raise  # not acked: the batch is redelivered, the store sees duplicates
            except Exception as exc:
                if attempt >= self.retries:
                    fatal(f"failed {attempt + 1} times: {exc!r}", exc)
                self.stats.retries += 1
                log.warning("attempt %d/%d failed, retrying in %.1fs: %r",
                            attempt + 1, self.retries + 1, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 8.0)
        raise AssertionError("unreachable")

    # -- KPI updates -----------------------------------------------------------------------------

    async def _gc_maintenance(self) -> None:
        """Keep the cyclic GC off the long-lived state (the table, the KPI view's cells).

        A full collection over a large heap pauses every thread for 100+ ms every few seconds,
        which is the whole latency budget. Freezing what exists every ten seconds leaves the GC
        only the young objects; a full collection still runs every ten minutes so cyclic garbage
        that was frozen is reclaimed.
        """
        rounds = 0
        while True:
            await asyncio.sleep(GC_FREEZE_EVERY)
            rounds += 1
            if rounds % GC_FULL_EVERY == 0:
                gc.unfreeze()
                gc.collect()
            gc.freeze()

    # -- output producer -------------------------------------------------------------------------

    async def _producer(self) -> Any:
        """The worker's own aiokafka producer for dead letters, KPI rows and the table changelog."""
        async with self._out_lock:  # two tasks asking at once must not both start one
            if self._closing:
                # A KPI round or a batch still running while the worker stops: a producer
                # started now would never be stopped. Cancel instead: an unacked batch is
                # redelivered after the restart (and its events are then duplicates).
                raise asyncio.CancelledError("the worker is shutting down")
            if self._out is None:
                from aiokafka import AIOKafkaProducer

                out = AIOKafkaProducer(bootstrap_servers=self.cfg.brokers, acks="all", linger_ms=2,
                                       max_batch_size=262144, client_id=f"{self.cfg.app_id}-out")
                await out.start()
                self._out = out
            return self._out

    async def _send_partitioned(self, topic: str, records: list[tuple[int, bytes, bytes]]) -> None:
        """Send ``(partition, key, value)`` records as one batch per partition (not awaited)."""
        producer = await self._producer()
        by_partition: dict[int, list[tuple[bytes, bytes]]] = {}
        for p, k, v in records:
            by_partition.setdefault(p, []).append((k, v))
        for p, items in by_partition.items():
            batch = producer.create_batch()
            for k, v in items:
                if batch.append(key=k, value=v, timestamp=None) is None:
                    await producer.send_batch(batch, topic, partition=p)
                    batch = producer.create_batch()
                    batch.append(key=k, value=v, timestamp=None)
            await producer.send_batch(batch, topic, partition=p)

    async def _close_producer(self) -> None:
        if self._out is not None:
            out, self._out = self._out, None
            await out.stop()  # flushes what is pending

    # -- running ---------------------------------------------------------------------------------

    def run(self, loglevel: str = "warning") -> None:
        from faust.worker import Worker


        say(f"app {self.cfg.app_id!r}, brokers {self.cfg.bootstrap}, topics "
            f"{', '.join(self.cfg.topics)} ({self.partitions} partitions), store {self.store.display_url}")
        Worker(self.app, loglevel=loglevel, quiet=True, redirect_stdouts=False).execute_from_commandline()


def run_worker(cfg: StreamConfig, db_url: str | None, *, web_port: int | None = None,
               loglevel: str = "warning") -> None:
    layout = ensure_topics(cfg)
    worker = StreamWorker(cfg, db_url, partitions=layout[cfg.events_topic].partitions,
                          web_port=web_port)
    worker.run(loglevel)
