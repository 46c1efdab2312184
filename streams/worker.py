"""The Faust worker: ``attain.events`` → :meth:`Engine.process` → store, dead letters, KPI updates.

Delivery guarantees (details in docs/streams.md)
------------------------------------------------
At-least-once consumption into an idempotent, atomic sink, with the SQL store as the authority
for which offsets are consumed:

* One agent, ``concurrency=1``: one batch in flight per worker; a partition's events are handed to
  the engine in offset order. Batches come from ``stream.noack_take(...)``.
* Each ``Engine.process`` call is one SQL transaction: event-id dedupe, per-deal version guard,
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
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NoReturn, cast

import faust
from attain.core import DealEvent, Dimensions, Engine, Record, Result, Store, get_plugins
from attain.core.kpi import CellKey
from attain.core.store import save_stream_offsets
from faust.serializers.codecs import dumps as codec_dumps
from faust.streams import Stream
from faust.types import EventT
from sqlalchemy.engine import Connection

from . import codec
from .admin import ensure_topics
from .config import StreamConfig
from .kpiview import KpiView

log = logging.getLogger("attain.streams")

TABLE = "deal-state"
DIMS_TTL = 1.0  # seconds
GC_FREEZE_EVERY = 10.0  # seconds
GC_FULL_EVERY = 60  # freezes (10 minutes)
KPI_PAUSE_BACKLOG = 3.0  # pause after a KPI round under a backlog, in multiples of its duration


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


class OffsetLedger:
    """Which offsets of ``attain.events`` are processed, per partition, as the store knows it.

    ``base[p]``: every offset below it is processed (its store transaction committed): the
    store's ``stream_offsets`` row for ``p``, or the partition's first offset when the store has
    none. ``done[p]``: processed offsets at or above ``base[p]`` that do not join up with it yet
    (a repair of a skipped range is still due). :meth:`advance` is what a transaction may claim,
    :meth:`apply` makes it so once the transaction committed; both run in the one SQL thread,
    :meth:`load` (on assignment) in the event loop, hence the lock.
    """

    def __init__(self) -> None:
        self.base: dict[int, int] = {}
        self.done: dict[int, set[int]] = {}
        self._lock = threading.Lock()

    def load(self, partition: int, base: int) -> None:
        """The store says every offset below ``base`` is processed (it never goes back).

        Offsets processed before the first load (Faust may deliver before the assignment
        handler has read the store) were kept in ``done`` and join up now."""
        with self._lock:
            self.base[partition] = max(self.base.get(partition, base), base)
            self._settle(partition)

    def _settle(self, partition: int) -> None:
        done = self.done.get(partition)
        end = self.base[partition]
        if done:
            while end in done:
                end += 1
            done.difference_update([o for o in done if o < end])
        self.base[partition] = end

    def advance(self, offsets: dict[int, list[int]]) -> dict[int, int]:
        """The next offsets that processing ``offsets`` moves forward (partitions with a base)."""
        out: dict[int, int] = {}
        with self._lock:
            for p, offs in offsets.items():
                base = self.base.get(p)
                if base is None:
                    continue
                done = self.done.get(p, set())
                end = base
                mine = set(offs)
                while end in mine or end in done:
                    end += 1
                if end > base:
                    out[p] = end
        return out

    def apply(self, offsets: dict[int, list[int]]) -> None:
        """``offsets`` are processed: their transaction committed."""
        with self._lock:
            for p, offs in offsets.items():
                base = self.base.get(p)
                if base is None:  # not loaded yet: remembered until load()
                    self.done.setdefault(p, set()).update(offs)
                    continue
                self.done.setdefault(p, set()).update(o for o in offs if o >= base)
                self._settle(p)

    def next_offset(self, partition: int) -> int | None:
        return self.base.get(partition)


class KafkaCommits:
    """Faust commits, for ``attain.events``, exactly the offsets the store has recorded.

    One patch of Faust's consumer: ``_new_offset(tp)`` (what Faust would commit next for a
    partition) returns the ledger's next offset as it stood after the last batch whose dead
    letters were delivered. Faust's own choice comes from the acks it saw, and it acks messages
    it never handed to the agent (dropped around a rebalance while flow control was suspended),
    commits over jumps in fetched offsets (it takes them for compaction or transaction markers)
    and lets one unacked offset at the head of the queue through (faust-streaming #606). With
    this patch Kafka's committed offset never passes the store's, so the position Faust seeks
    to after a rebalance or restart never lies beyond an unprocessed record, and the consumer
    group's lag is true. (Faust's ``ack`` and ``_add_gap`` stay as they are: they only feed the
    decision this replaces; the bookkeeping they leave is cleared here.)
    """

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.next: dict[int, int] = {}  # partition -> offset Kafka may be committed to
        self.consumer: Any = None

    def install(self, consumer: Any) -> None:
        self.consumer = consumer
        original: Callable[[Any], int | None] = consumer._new_offset

        def new_offset(tp: Any) -> int | None:
            if tp.topic != self.topic:
                return original(tp)
            # Faust's bookkeeping of acks and gaps is not used for this topic: keep it empty.
            acked = consumer._acked.get(tp)
            if acked:
                acked.clear()
            index = consumer._acked_index.get(tp)
            if index:
                index.clear()
            gap = consumer._gap.get(tp)
            if gap:
                gap.clear()
            return self.next.get(tp.partition)

        consumer._new_offset = new_offset


class _App(faust.App):
    kafka_commits: KafkaCommits

    def _new_consumer(self) -> Any:
        consumer = super()._new_consumer()
        self.kafka_commits.install(consumer)
        return consumer


@dataclass
class Stats:
    """Worker-local counters, exposed at ``/metrics`` when the web server is enabled."""

    batches: int = 0
    events: int = 0
    accepted: int = 0
    duplicates: int = 0
    stale: int = 0
    conflicts: int = 0
    rejected: int = 0
    deadletters_sent: int = 0
    kpi_rows_sent: int = 0
    retries: int = 0
    repaired: int = 0
    batch_seconds: float = 0.0
    resume_repairs: int = 0
    last_offsets: dict[int, int] = field(default_factory=dict)

    def add(self, res: Result, events: int) -> None:
        self.events += events
        self.accepted += res.accepted
        self.duplicates += res.duplicates
        self.stale += res.stale
        self.conflicts += res.conflicts
        self.rejected += res.rejected

    def prometheus(self, app_id: str, table_size: int, next_offsets: dict[int, int]) -> str:
        """The counters in Prometheus' text exposition format (version 0.0.4)."""
        lab = f'app="{app_id}"'
        lines = []
        for name, kind, value, help_ in (
            ("attain_stream_batches_total", "counter", self.batches, "batches the agent processed"),
            ("attain_stream_events_total", "counter", self.events,
             "events handed to Engine.process (agent and re-reads; = accepted + duplicates + stale "
             "+ conflicts + rejected)"),
            ("attain_stream_accepted_total", "counter", self.accepted, "events accepted"),
            ("attain_stream_duplicates_total", "counter", self.duplicates,
             "duplicate events (already seen event ids, e.g. redelivered)"),
            ("attain_stream_stale_total", "counter", self.stale, "stale deal versions"),
            ("attain_stream_conflicts_total", "counter", self.conflicts,
             "events reusing a seen event id with different content (dead-lettered)"),
            ("attain_stream_rejected_total", "counter", self.rejected, "invalid events"),
            ("attain_stream_deadletters_sent_total", "counter", self.deadletters_sent,
             "messages sent to the dead-letter topic"),
            ("attain_stream_kpi_rows_sent_total", "counter", self.kpi_rows_sent, "KPI rows published"),
            ("attain_stream_retries_total", "counter", self.retries, "store write retries"),
            ("attain_stream_repaired_total", "counter", self.repaired,
             "events re-read directly because Faust's fetch skipped them or Kafka's committed "
             "offset was past the store's"),
            ("attain_stream_resume_repairs_total", "counter", self.resume_repairs,
             "assignments where Kafka's committed offset was past the store's"),
            ("attain_stream_batch_seconds_total", "counter", round(self.batch_seconds, 6),
             "seconds spent processing the agent's batches"),
            ("attain_stream_table_keys", "gauge", table_size,
             "deals in the worker's local deal-state table (0 with ATTAIN_STREAM_TABLE=0)"),
        ):
            lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{name}{{{lab}}} {value}"]
        name = "attain_stream_next_offset"
        lines += [f"# HELP {name} the store's next offset to process per partition (every offset "
                  "below it is processed)", f"# TYPE {name} gauge"]
        lines += [f'{name}{{{lab},partition="{p}"}} {o}' for p, o in sorted(next_offsets.items())]
        return "\n".join(lines) + "\n"


def _source_of(msg: Any) -> str:
    return f"kafka:{msg.topic}/{msg.partition}@{msg.offset}"


def _records_of(msgs: Sequence[Any]) -> tuple[dict[str, list[Record]], dict[str, bytes | None],
                                                dict[str, dict[int, list[int]]]]:
    """Kafka messages (Faust's or aiokafka's) as ``Engine.process`` input: per tenant (from the
    key) the records, each message's key by source, and per tenant the offsets taken per
    partition."""
    groups: dict[str, list[Record]] = {}
    keys: dict[str, bytes | None] = {}
    taken: dict[str, dict[int, list[int]]] = {}
    for msg in msgs:
        key = msg.key if isinstance(msg.key, bytes) or msg.key is None else str(msg.key).encode()
        value = msg.value if isinstance(msg.value, bytes) else str(msg.value).encode()
        source = _source_of(msg)
        keys[source] = key
        tenant = codec.tenant_of_key(key)
        rejected = codec.parse_rejected(value) if value[:1] == b"{" else None
        if rejected is None:
            groups.setdefault(tenant, []).append(Record(value, source=source))
        else:  # a connector's rejection, published as such: dead-lettered with its own reason
            reason, origin, payload = rejected
            rec = Record(payload, source=f"{origin} ({source})", reason=reason)
            keys[rec.source] = key
            groups.setdefault(tenant, []).append(rec)
        taken.setdefault(tenant, {}).setdefault(msg.partition, []).append(msg.offset)
    return groups, keys, taken


def offset_order(msgs: Sequence[Any], skipped: Sequence[tuple[int, int, int]]
                 ) -> list[tuple[list[Any], list[tuple[int, int, int]]]]:
    """A batch cut around the ranges its fetch skipped, as ``(messages, ranges)`` steps: process
    the messages, then re-read the ranges, step after step, and every partition is processed in
    offset order. ``skipped``: ``(partition, first, last)``, in offset order per partition (as
    :meth:`StreamWorker._check_skips` finds them).

    A step's messages are those below their partition's next skipped range (all of a partition
    with none left); its ranges are each partition's next one. Without skipped ranges, one step:
    the whole batch and nothing to re-read.
    """
    todo: dict[int, list[tuple[int, int, int]]] = {}
    for gap in skipped:
        todo.setdefault(gap[0], []).append(gap)
    steps: list[tuple[list[Any], list[tuple[int, int, int]]]] = []
    rest = list(msgs)
    while todo:
        cut = {p: gaps[0][1] for p, gaps in todo.items()}
        head = [m for m in rest if m.partition not in cut or m.offset < cut[m.partition]]
        rest = [m for m in rest if m.partition in cut and m.offset >= cut[m.partition]]
        steps.append((head, [gaps.pop(0) for gaps in todo.values()]))
        todo = {p: gaps for p, gaps in todo.items() if gaps}
    steps.append((rest, []))
    return steps


class StreamWorker:
    """Builds the Faust app around one :class:`Engine` and runs it."""

    def __init__(self, cfg: StreamConfig, db_url: str | None, *, partitions: int | None = None,
                 web_port: int | None = None, retries: int | None = None,
                 kpi_interval: float | None = None) -> None:
        self.cfg = cfg
        self.store = Store(db_url)
        self.engine = Engine(self.store, get_plugins())
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
        self._backlog = False  # the agent's last batch was at least half full: events are waiting
        self._out: Any = None
        self._out_lock = asyncio.Lock()
        self._closing = False
        self._next: dict[int, int] = {}  # partition -> the next offset the agent should see
        self.ledger = OffsetLedger()
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
        app.kafka_commits = KafkaCommits(cfg.events_topic)
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
            self._next = {}  # re-learnt from the offsets Faust seeks to
            await self._with_retries(partial(self._resume_from_store, mine))
            say(f"assigned partitions {mine} of {cfg.events_topic}")

        # (cast: mode's receiver type wants a keyword-only ``signal``; **kwargs takes it)
        app.on_partitions_assigned.connect(cast(Any, on_assigned))

        @app.page("/metrics")
        async def metrics(web: Any, request: Any) -> Any:
            size = len(self.table.data) if self.table is not None else 0
            text = self.stats.prometheus(cfg.app_id, size, dict(self.ledger.base))
            return web.text(text, content_type="text/plain; version=0.0.4")

        async def on_shutdown(sender: Any, *args: Any, **kwargs: Any) -> None:
            self._closing = True  # from now on nobody may start a producer (see _producer)
            await self._close_producer()

        app.on_before_shutdown.connect(cast(Any, on_shutdown))

        return app

    # -- one batch -------------------------------------------------------------------------------

    async def handle(self, events: Sequence[EventT]) -> None:
        """Process one batch: store transaction(s) with the offsets, dead letters, then acks."""
        if not events:
            return
        msgs = [ev.message for ev in events]
        offsets: dict[int, int] = {}
        for msg in msgs:
            offsets[msg.partition] = max(offsets.get(msg.partition, -1), msg.offset)
        started = time.perf_counter()
        self._backlog = 2 * len(events) >= self.cfg.batch_size
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
        self.stats.batch_seconds += time.perf_counter() - started

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

    async def _process_messages(self, msgs: Sequence[Any]) -> Result:
        """Process Kafka messages (the agent's or re-read ones): the store transaction(s) with
        their offsets, the dead letters, then the deal-state table."""
        groups, keys, taken = _records_of(msgs)
        total, latest = await self._run(groups, keys, taken)
        if self.table is None or not latest:
            return total
        partition_of: dict[str, int] = {}
        for msg in msgs:
            key = keys[_source_of(msg)]
            if key is not None:
                partition_of[key.decode("utf-8", "replace")] = msg.partition
        # The snapshots the store accepted, written to the table's partition (= the event's) and
        # to its changelog, as Table.__setitem__ would do.
        changelog: list[tuple[int, bytes, bytes]] = []
        for (tenant, deal_id), deal in latest.items():
            k = f"{tenant}{codec.SEP}{deal_id}"
            p = partition_of.get(k)
            if p is None:  # keyed differently by a foreign producer: no partition to keep it in
                continue
            cur = self.table.data.get(k)
            if cur is None or deal.version > cur["version"]:
                state = deal.model_dump(mode="json")
                self.table.data[k] = state
                changelog.append((p, codec_dumps("json", k), codec_dumps("json", state)))
        if changelog:
            await self._send_partitioned(self.table.changelog_topic.get_topic_name(), changelog)
        return total

    async def _run(self, groups: dict[str, list[Record]], keys: dict[str, bytes | None],
                   taken: dict[str, dict[int, list[int]]]
                   ) -> tuple[Result, dict[tuple[str, str], DealEvent]]:
        """One store transaction per tenant (each records its offsets), then the dead letters;
        then Kafka may be committed up to what the store now says is processed."""
        loop = asyncio.get_running_loop()
        total = Result()
        rejected: list[tuple[str, str, str, str]] = []
        latest: dict[tuple[str, str], DealEvent] = {}
        released: dict[int, int] = {}
        for tenant, records in groups.items():
            res, rej, won, nxt = await self._with_retries(
                partial(loop.run_in_executor, self.sql, self._process, records, tenant,
                        taken.get(tenant, {})))
            total.add(res)
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
        return total, latest

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

    async def _send_deadletters(self, rejected: list[tuple[str, str, str, str]],
                                keys: dict[str, bytes | None], raw: dict[str, Any]) -> None:
        producer = await self._producer()
        futs = [await producer.send(self.cfg.deadletter_topic,
                                    codec.deadletter_value(tenant, reason, payload, source,
                                                           raw.get(source)),
                                    key=keys.get(source))
                for tenant, reason, payload, source in rejected]
        await asyncio.gather(*futs)

    def _process(self, records: list[Record], tenant: str, taken: dict[int, list[int]]
                 ) -> tuple[Result, list[tuple[str, str, str, str]],
                            dict[tuple[str, str], DealEvent], dict[int, int]]:
        """In the SQL thread: one ``Engine.process`` call = one transaction, which also records
        the offsets it consumed (``taken``: partition -> offsets) in ``stream_offsets``.

        Returns the result, the dead letters, the snapshots that won and the partitions' next
        offsets the store holds after the commit."""
        group, topic = self.cfg.app_id, self.cfg.events_topic

        def save_offsets(conn: Connection) -> None:
            save_stream_offsets(conn, group, topic, self.ledger.advance(taken))

        with self._own_lock:  # the KPI thread reads the counters and our share of them together
            res = self.engine.process(records, tenant=None, default_tenant=tenant,
                                      in_transaction=save_offsets)
            self._own_outcomes[tenant] = self._own_outcomes.get(tenant, 0) + res.total
        self.ledger.apply(taken)
        nxt = {p: o for p in taken if (o := self.ledger.next_offset(p)) is not None}
        rejected = [(r.tenant, r.reason, r.payload, r.source) for r in res.rejections]
        return res, rejected, res.latest_snapshots(), nxt

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
            # Pace the rounds: a round is followed by a pause as long as itself (at most half of
            # the time goes to KPI updates), three times as long while the agent's batches are at
            # least half full (a backlog: at most a quarter, each round covering more batches,
            # +13 % throughput). Under a light load an update follows a batch within tens of ms.
            factor = KPI_PAUSE_BACKLOG if self._backlog else 1.0
            await asyncio.sleep(max(self.kpi_interval, factor * (time.perf_counter() - t0)))

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
            f"{', '.join(self.cfg.topics)} ({self.partitions} partitions), store {self.store.url}")
        Worker(self.app, loglevel=loglevel, quiet=True, redirect_stdouts=False).execute_from_commandline()


def run_worker(cfg: StreamConfig, db_url: str | None, *, web_port: int | None = None,
               loglevel: str = "warning") -> None:
    layout = ensure_topics(cfg)
    worker = StreamWorker(cfg, db_url, partitions=layout[cfg.events_topic].partitions,
                          web_port=web_port)
    worker.run(loglevel)
