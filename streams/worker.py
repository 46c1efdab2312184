"""The Faust worker: ``attain.events`` → :meth:`Engine.process` → store, dead letters, KPI updates.

Delivery guarantees (see docs/streams.md)
-----------------------------------------
At-least-once consumption with an idempotent, atomic sink:

* One agent, ``concurrency=1``: one batch in flight per worker; a partition's events are handed to
  the engine in offset order.
* Batches come from ``stream.noack_take(...)``: nothing is acknowledged by Faust. Only after
  ``Engine.process`` has committed the batch's SQL transaction (event-id dedupe, per-deal version
  guard, deal snapshots, KPI cell deltas and counters together) and its dead letters are delivered
  does the agent ack the batch's events, in order; Faust then commits offsets up to the highest
  contiguous acked offset. A worker killed anywhere before that point gets the batch again after a
  restart or rebalance, and the store recognises every event as a duplicate.
* :class:`AckGate`: Faust itself acks messages it *skips* (fetched before a rebalance, or read
  while flow control was suspended) although they never reached the agent; such an offset could
  become committable before the re-fetched copy is processed. The gate lets only the agent's acks
  of processed events count, so only processed offsets are ever committed.
* ``processing_guarantee`` stays ``at_least_once`` (Faust's exactly-once mode has open bugs, and
  the store's transaction already makes redelivery harmless).

The changelog-backed Faust table ``deal-versions`` (``tenant|deal_id`` → highest accepted version)
mirrors the store for observability; the SQL store stays the authority.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NoReturn, cast

import faust
from attain.core import hookimpl
from attain.core.engine import Engine, Record, Result
from attain.core.kpi import CellKey, Dimensions
from attain.core.models import AnyEvent, DealEvent
from attain.core.plugins import get_plugins
from attain.core.store import Store
from faust.serializers.codecs import dumps as codec_dumps
from faust.streams import Stream
from faust.types import TP, EventT

from . import codec
from .admin import ensure_topics
from .config import StreamConfig
from .kpiview import KpiView

log = logging.getLogger("attain.streams")

TABLE = "deal-versions"
DIMS_TTL = 1.0  # seconds
GC_FREEZE_EVERY = 10.0  # seconds
GC_FULL_EVERY = 60  # freezes (10 minutes)
PLUGIN_NAME = "streams"


def say(msg: str) -> None:
    """A lifecycle line on stderr (``attain worker: ...``), independent of the log level."""
    print(f"attain worker: {msg}", file=sys.stderr, flush=True)


def fatal(msg: str, exc: BaseException | None = None) -> NoReturn:
    """Exit at once, like a crash: the current batch is neither acked nor committed."""
    log.critical("%s", msg, exc_info=exc)
    say(f"fatal: {msg}; exiting without committing the current batch (it is processed again "
        "after a restart)")
    sys.stderr.flush()
    os._exit(70)


class AckGate:
    """Offsets of ``attain.events`` are committed only over what the agent processed.

    Faust decides what to commit from the acks it saw, with heuristics that can skip unprocessed
    records: it acks messages it *skips* (fetched before a rebalance, or read while flow control
    was suspended) although they never reached the agent; it takes a jump in fetched offsets for
    records that do not exist (compaction, transaction markers) and commits over them; and its
    head-of-queue check lets one unacked offset right at the committed position through
    (faust-streaming #606). For this topic, which is neither compacted nor transactional, the
    gate replaces that decision: a partition's commit advances from the committed offset over
    the contiguous run of offsets the agent (or a repair) recorded as processed, and stops at
    the first one it did not.
    """

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.open = False
        self.refused = 0
        self.gaps = 0
        self.consumer: Any = None
        self.processed: dict[int, set[int]] = {}
        self.first_seen: dict[int, int] = {}

    def record(self, partition: int, offsets: Iterable[int]) -> None:
        """``offsets`` of ``partition`` are processed: their store transaction has committed."""
        done = self.processed.setdefault(partition, set())
        for o in offsets:
            done.add(o)
            self.first_seen.setdefault(partition, o)

    def reset_assignment(self) -> None:
        self.first_seen = {}

    def committable(self, consumer: Any, tp: Any) -> int | None:
        done = self.processed.get(tp.partition)
        committed = consumer._committed_offset.get(tp)
        start = committed if committed is not None and committed >= 0 else self.first_seen.get(tp.partition)
        if not done or start is None:
            return None
        end = start
        while end in done:
            end += 1
        acked = consumer._acked.get(tp)
        if acked:  # Faust's own bookkeeping: forget what is settled
            acked[:] = [x for x in acked if x >= end]
            index = consumer._acked_index.get(tp)
            if index:
                index.difference_update([x for x in index if x < end])
        done.difference_update([x for x in done if x < end])
        return end if end > start else None

    def install(self, consumer: Any) -> None:
        self.consumer = consumer
        original: Callable[[Any], bool] = consumer.ack

        def ack(message: Any) -> bool:
            if self.open or message.topic != self.topic:
                return original(message)
            # Skipped by Faust, not processed: settle it (so a rebalance's wait_empty is not
            # blocked); its offset is not recorded as processed, so it is not committed.
            message.acked = True
            consumer._unacked_messages.discard(message)
            self.refused += 1
            log.info("not committing %s[%s]@%s: acked by Faust, not processed by the agent",
                     message.topic, message.partition, message.offset)
            return False

        consumer.ack = ack

        original_gap: Callable[[Any, int, int], Any] = consumer._add_gap

        async def add_gap(tp: Any, offset_from: int, offset_to: int) -> None:
            if tp.topic != self.topic:
                return await original_gap(tp, offset_from, offset_to)  # type: ignore[no-any-return]
            self.gaps += 1  # the records exist; StreamWorker._check_skips has them re-read
            log.warning("the fetch skipped offsets %d..%d of %s[%d]", offset_from, offset_to,
                        tp.topic, tp.partition)

        consumer._add_gap = add_gap

        original_new_offset: Callable[[Any], int | None] = consumer._new_offset

        def new_offset(tp: Any) -> int | None:
            if tp.topic != self.topic:
                return original_new_offset(tp)
            return self.committable(consumer, tp)

        consumer._new_offset = new_offset


class _App(faust.App):
    ack_gate: AckGate

    def _new_consumer(self) -> Any:
        consumer = super()._new_consumer()
        self.ack_gate.install(consumer)
        return consumer


class _Collector:
    """The worker's own hook implementations: what a batch rejected and which versions won."""

    def __init__(self) -> None:
        self.rejected: list[tuple[str, str, str, str]] = []
        self.versions: dict[tuple[str, str], int] = {}

    def reset(self) -> None:
        self.rejected = []
        self.versions = {}

    @hookimpl
    def attain_event_rejected(self, tenant: str, reason: str, payload: str, source: str) -> None:
        self.rejected.append((tenant, reason, payload, source))

    @hookimpl
    def attain_batch_processed(self, tenant: str, outcomes: list[tuple[AnyEvent, str]]) -> None:
        for event, outcome in outcomes:
            if outcome == "accepted" and isinstance(event, DealEvent):
                k = (tenant, event.deal_id)
                if event.version > self.versions.get(k, -1):
                    self.versions[k] = event.version


@dataclass
class Stats:
    """Worker-local counters, exposed at ``/metrics`` when the web server is enabled."""

    batches: int = 0
    events: int = 0
    accepted: int = 0
    duplicates: int = 0
    stale: int = 0
    rejected: int = 0
    deadletters_sent: int = 0
    kpi_rows_sent: int = 0
    retries: int = 0
    repaired: int = 0
    batch_seconds: float = 0.0
    last_offsets: dict[int, int] = field(default_factory=dict)

    def prometheus(self, app_id: str, refused: int, table_size: int) -> str:
        lab = f'app="{app_id}"'
        lines = []
        for name, kind, value, help_ in (
            ("attain_stream_batches_total", "counter", self.batches, "batches processed"),
            ("attain_stream_events_total", "counter", self.events, "events consumed and processed"),
            ("attain_stream_accepted_total", "counter", self.accepted, "events accepted"),
            ("attain_stream_duplicates_total", "counter", self.duplicates, "duplicate events"),
            ("attain_stream_stale_total", "counter", self.stale, "stale deal versions"),
            ("attain_stream_rejected_total", "counter", self.rejected, "invalid events"),
            ("attain_stream_deadletters_sent_total", "counter", self.deadletters_sent,
             "messages sent to the dead-letter topic"),
            ("attain_stream_kpi_rows_sent_total", "counter", self.kpi_rows_sent, "KPI rows published"),
            ("attain_stream_retries_total", "counter", self.retries, "store write retries"),
            ("attain_stream_repaired_total", "counter", self.repaired,
             "events re-read because Faust's fetch skipped them"),
            ("attain_stream_batch_seconds_total", "counter", round(self.batch_seconds, 6),
             "time spent in Engine.process"),
            ("attain_stream_refused_acks_total", "counter", refused,
             "acks of messages Faust skipped (not processed, offset not committed)"),
            ("attain_stream_table_keys", "gauge", table_size, "keys in the local deal-versions table"),
        ):
            lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{name}{{{lab}}} {value}"]
        return "\n".join(lines) + "\n"


class StreamWorker:
    """Builds the Faust app around one :class:`Engine` and runs it."""

    def __init__(self, cfg: StreamConfig, db_url: str | None, *, partitions: int | None = None,
                 web_port: int | None = None, retries: int | None = None,
                 kpi_interval: float | None = None) -> None:
        self.cfg = cfg
        self.store = Store(db_url)
        self.engine = Engine(self.store, get_plugins())
        self.collector = _Collector()
        if PLUGIN_NAME not in self.engine.plugins.names():
            self.engine.plugins.register(self.collector, name=PLUGIN_NAME)
        self.retries = retries if retries is not None else int(os.environ.get("ATTAIN_STREAM_RETRIES", "5"))
        self.kpi_interval = (kpi_interval if kpi_interval is not None
                             else float(os.environ.get("ATTAIN_KPI_INTERVAL", "0.02")))
        # Two threads: batches are written by one (one transaction at a time, in order), KPI rows
        # are read by the other, so a KPI round never holds up the next batch.
        self.sql = ThreadPoolExecutor(max_workers=1, thread_name_prefix="attain-sql")
        self.sql_read = ThreadPoolExecutor(max_workers=1, thread_name_prefix="attain-kpi")
        self.stats = Stats()
        self.partitions = partitions or cfg.partitions
        self._pending: dict[str, set[CellKey]] = {}
        self._pending_offsets: dict[int, int] = {}
        self._dirty = asyncio.Event()
        self._out: Any = None
        self._next: dict[int, int] = {}  # partition -> the next offset the agent should see
        self._repairs: asyncio.Queue[tuple[int, int, int]] = asyncio.Queue()
        self.view = KpiView(self.store.engine)
        self._own_outcomes: dict[str, int] = {}  # per tenant: outcomes our batches counted
        self._own_lock = threading.Lock()
        self._dims: dict[str, tuple[float, Dimensions]] = {}
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
        app.ack_gate = AckGate(cfg.events_topic)
        self.events_topic = app.topic(cfg.events_topic, key_type=bytes, value_type=bytes,
                                      key_serializer="raw", value_serializer="raw")
        self.table = app.Table(TABLE, default=None, key_type=str, value_type=int,
                               partitions=self.partitions,
                               help="tenant|deal_id -> highest accepted version (mirror of the store)")

        async def process_events(stream: faust.StreamT[Any]) -> None:
            # noack_take: Faust acks nothing; handle() acks each event after it is processed.
            take = cast("Stream[Any]", stream).noack_take
            async for events in take(cfg.batch_size, within=cfg.batch_within):
                try:
                    await self.handle(list(events))
                except asyncio.CancelledError:
                    raise  # shutting down: the batch is not acked and is processed again later
                except Exception as exc:
                    # Never leave a batch unacked in a live process: its offsets could never be
                    # committed and a rebalance would wait for it forever. Exit instead; nothing
                    # past the last processed batch is committed, so a restart redelivers it.
                    fatal(f"processing a batch failed: {exc!r}", exc)

        app.agent(self.events_topic, name="attain.process-events", concurrency=1)(process_events)
        app.task(self._publish_kpis)
        app.task(self._gc_maintenance)
        app.task(self._repair_loop)

        async def on_assigned(sender: Any, *args: Any, **kwargs: Any) -> None:
            assigned = args[0] if args else kwargs.get("assigned", ())
            mine = sorted(tp.partition for tp in assigned if tp.topic == cfg.events_topic)
            self._next = {}  # re-learnt from the committed offsets the consumer seeks to
            app.ack_gate.reset_assignment()
            say(f"assigned partitions {mine} of {cfg.events_topic}")

        # (cast: mode's receiver type wants a keyword-only ``signal``; **kwargs takes it)
        app.on_partitions_assigned.connect(cast(Any, on_assigned))

        @app.page("/metrics")
        async def metrics(web: Any, request: Any) -> Any:
            text = self.stats.prometheus(cfg.app_id, app.ack_gate.refused, len(self.table.data))
            return web.text(text, content_type="text/plain; version=0.0.4")

        async def on_shutdown(sender: Any, *args: Any, **kwargs: Any) -> None:
            await self._close_producer()

        app.on_before_shutdown.connect(cast(Any, on_shutdown))

        return app

    # -- one batch -------------------------------------------------------------------------------

    async def handle(self, events: Sequence[EventT]) -> None:
        """Process one batch, then ack it (see the module doc for why in this order)."""
        if not events:
            return
        groups: dict[str, list[Record]] = {}
        keys: dict[str, bytes | None] = {}
        partition_of: dict[str, int] = {}
        offsets: dict[int, int] = {}
        for ev in events:
            msg = ev.message
            key = msg.key if isinstance(msg.key, bytes) or msg.key is None else str(msg.key).encode()
            value = msg.value if isinstance(msg.value, bytes) else str(msg.value).encode()
            source = f"kafka:{msg.topic}/{msg.partition}@{msg.offset}"
            keys[source] = key
            if key is not None:
                partition_of[key.decode("utf-8", "replace")] = msg.partition
            offsets[msg.partition] = max(offsets.get(msg.partition, -1), msg.offset)
            groups.setdefault(codec.tenant_of_key(key), []).append(
                Record(value, source=source, line=None))

        self._check_skips(events)
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        if log.isEnabledFor(logging.DEBUG):
            oldest = min(ev.message.timestamp for ev in events)
            log.debug("batch of %d events; the oldest was produced %.1f ms ago", len(events),
                      (time.time() - oldest) * 1000)
        total = Result()
        rejected: list[tuple[str, str, str, str]] = []
        versions: dict[tuple[str, str], int] = {}
        for tenant, records in groups.items():
            res, rej, ver = await self._with_retries(
                partial(loop.run_in_executor, self.sql, self._process, records, tenant))
            total.add(res)
            rejected += rej
            versions.update(ver)
        self.stats.batch_seconds += time.perf_counter() - started

        # Dead letters are delivered before the batch is acked (at-least-once on that topic too).
        if rejected:
            await self._with_retries(partial(self._send_deadletters, rejected, keys))
            self.stats.deadletters_sent += len(rejected)

        gate = self.app.ack_gate
        by_partition: dict[int, list[int]] = {}
        for ev in events:
            by_partition.setdefault(ev.message.partition, []).append(ev.message.offset)
        for part, offs in by_partition.items():
            gate.record(part, offs)
        gate.open = True
        try:
            for ev in events:
                ev.ack()
        finally:
            gate.open = False

        changelog: list[tuple[int, bytes, bytes]] = []
        for (tenant, deal_id), version in versions.items():
            k = f"{tenant}{codec.SEP}{deal_id}"
            p = partition_of.get(k)
            if p is None:  # keyed differently by a foreign producer: no partition to mirror it in
                continue
            cur = self.table.data.get(k)
            if cur is None or version > cur:
                self.table.data[k] = version
                changelog.append((p, codec_dumps("json", k), codec_dumps("json", version)))
        if changelog:
            await self._send_partitioned(self.table.changelog_topic.get_topic_name(), changelog)

        s = self.stats
        s.batches += 1
        s.events += len(events)
        s.accepted += total.accepted
        s.duplicates += total.duplicates
        s.stale += total.stale
        s.rejected += total.rejected
        for p, o in offsets.items():
            s.last_offsets[p] = max(s.last_offsets.get(p, -1), o)
            self._pending_offsets[p] = max(self._pending_offsets.get(p, -1), o)
        for tenant, cell in total.changed_cells:
            self._pending.setdefault(tenant, set()).add(cell)
        self._dirty.set()

    def _check_skips(self, events: Sequence[EventT]) -> None:
        """Queue a re-read when a partition's offsets jump past ones the agent never saw.

        Faust's fetch can resume past records after a rebalance (the first record after the
        reassignment lies beyond the committed offset, or offsets jump later on). Such records
        are never committed (see :class:`AckGate`), and here they are processed right away.
        """
        consumer = self.app.ack_gate.consumer
        for ev in events:
            p, o = ev.message.partition, ev.message.offset
            expected = self._next.get(p)
            if expected is None and consumer is not None:
                committed = consumer._committed_offset.get(TP(self.cfg.events_topic, p))
                expected = committed if committed is not None and committed >= 0 else None
            if expected is not None and o > expected:
                log.warning("offsets %d..%d of %s[%d] were skipped by the fetch; re-reading them",
                            expected, o - 1, self.cfg.events_topic, p)
                self._repairs.put_nowait((p, expected, o - 1))
            if expected is None or o >= expected:
                self._next[p] = o + 1

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
        """Read offsets ``start..end`` of partition ``p`` directly, process them, then let Faust
        commit past them."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        tp = TopicPartition(self.cfg.events_topic, p)
        reader = AIOKafkaConsumer(bootstrap_servers=self.cfg.brokers, group_id=None,
                                  enable_auto_commit=False, client_id=f"{self.cfg.app_id}-repair")
        await reader.start()
        records: list[tuple[bytes | None, Record]] = []
        try:
            reader.assign([tp])
            reader.seek(tp, start)
            done = False
            while not done:
                batch = await reader.getmany(tp, timeout_ms=1000, max_records=1000)
                for m in batch.get(tp, []):
                    if m.offset > end:
                        done = True
                        break
                    records.append((m.key, Record(m.value, source=f"kafka:{tp.topic}/{p}@{m.offset}")))
                    done = m.offset >= end
                if not batch and await reader.position(tp) > end:
                    done = True
        finally:
            await reader.stop()
        loop = asyncio.get_running_loop()
        groups: dict[str, list[Record]] = {}
        keys: dict[str, bytes | None] = {}
        for key, rec in records:
            keys[rec.source] = key
            groups.setdefault(codec.tenant_of_key(key), []).append(rec)
        for tenant, recs in groups.items():
            res, rejected, _ = await self._with_retries(
                partial(loop.run_in_executor, self.sql, self._process, recs, tenant))
            if rejected:
                await self._with_retries(partial(self._send_deadletters, rejected, keys))
            for t, cell in res.changed_cells:
                self._pending.setdefault(t, set()).add(cell)
        self.app.ack_gate.record(p, [int(r.source.rsplit("@", 1)[1]) for _, r in records])
        self.stats.repaired += len(records)
        log.warning("re-read and processed offsets %d..%d of %s[%d] (%d events)", start, end,
                    tp.topic, p, len(records))
        self._dirty.set()

    async def _send_deadletters(self, rejected: list[tuple[str, str, str, str]],
                                keys: dict[str, bytes | None]) -> None:
        producer = await self._producer()
        futs = [await producer.send(self.cfg.deadletter_topic,
                                    codec.deadletter_value(tenant, reason, payload, source),
                                    key=keys.get(source))
                for tenant, reason, payload, source in rejected]
        await asyncio.gather(*futs)

    def _process(self, records: list[Record], tenant: str
                 ) -> tuple[Result, list[tuple[str, str, str, str]], dict[tuple[str, str], int]]:
        """In the SQL thread: one ``Engine.process`` call = one transaction."""
        self.collector.reset()
        with self._own_lock:  # the KPI thread reads the counters and our share of them together
            res = self.engine.process(records, tenant=None, default_tenant=tenant)
            self._own_outcomes[tenant] = (self._own_outcomes.get(tenant, 0) + res.accepted
                                          + res.duplicates + res.stale + res.rejected)
        return res, self.collector.rejected, self.collector.versions

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

    async def _publish_kpis(self) -> None:
        """Publish the KPI rows of every group touched since the last round (coalesced)."""
        loop = asyncio.get_running_loop()
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if not self._pending:
                continue  # nothing changed; the offsets ride along with the next update
            pending, self._pending = self._pending, {}
            offsets, self._pending_offsets = self._pending_offsets, {}
            t0 = time.perf_counter()
            try:
                rows = await loop.run_in_executor(self.sql_read, self._kpi_rows, pending)
                computed_at = codec.now_iso()
                producer = await self._producer()
                by_grouping: dict[tuple[str, str], list[dict[str, object]]] = {}
                for tenant, grouping, row in rows:
                    by_grouping.setdefault((tenant, grouping), []).append(row)
                for (tenant, grouping), group_rows in by_grouping.items():
                    await producer.send(
                        self.cfg.kpi_topic,
                        codec.kpi_value(tenant, grouping, group_rows, computed_at, offsets),
                        key=codec.kpi_key(tenant, grouping).encode())
                self.stats.kpi_rows_sent += len(rows)
                if log.isEnabledFor(logging.INFO):
                    log.info("KPI round: %d rows for %d cells in %.1f ms (%s)", len(rows),
                             sum(len(c) for c in pending.values()), (time.perf_counter() - t0) * 1000,
                             " ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                                      for k, v in self.view.timing.items()))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # best effort: the store has the figures, the next round retries
                log.error("publishing KPI updates failed: %r", exc, exc_info=exc)
                for tenant, cells in pending.items():
                    self._pending.setdefault(tenant, set()).update(cells)
                for p, o in offsets.items():
                    self._pending_offsets[p] = max(self._pending_offsets.get(p, -1), o)
                self._dirty.set()
            # Pace the rounds: at most half of the time goes to KPI updates under a heavy load,
            # and under a light one an update follows a batch within a few tens of milliseconds.
            await asyncio.sleep(max(self.kpi_interval, time.perf_counter() - t0))

    def _kpi_rows(self, pending: dict[str, set[CellKey]]) -> list[tuple[str, str, dict[str, object]]]:
        """In the KPI thread: the rows of the groups ``pending`` cells belong to, from the store."""
        out: list[tuple[str, str, dict[str, object]]] = []
        for tenant, changed in pending.items():
            dims = self._dimensions(tenant)
            metrics = self.engine.metrics(tenant)

            def counts(t: str = tenant) -> tuple[int, int]:
                with self._own_lock:
                    return self.view.store_outcomes(t), self._own_outcomes.get(t, 0)

            out += [(tenant, g, row) for g, row in self.view.changed_rows(tenant, changed, dims, metrics, counts)]
        return out

    def _dimensions(self, tenant: str) -> Dimensions:
        """Reference data, re-read at most once a second (it changes rarely)."""
        now = time.monotonic()
        hit = self._dims.get(tenant)
        if hit is None or now - hit[0] >= DIMS_TTL:
            hit = self._dims[tenant] = (now, self.engine.dimensions(tenant))
        return hit[1]

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
            f"{', '.join(self.cfg.topics)} ({self.partitions} partitions), store {self.store.url}")
        Worker(self.app, loglevel=loglevel, quiet=True, redirect_stdouts=False).execute_from_commandline()


def run_worker(cfg: StreamConfig, db_url: str | None, *, web_port: int | None = None,
               loglevel: str = "warning") -> None:
    layout = ensure_topics(cfg)
    worker = StreamWorker(cfg, db_url, partitions=layout[cfg.events_topic].partitions,
                          web_port=web_port)
    worker.run(loglevel)
