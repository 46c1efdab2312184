"""Writing one tenant's part of a batch: one ``Engine.process`` call = one SQL transaction, which
also records the Kafka offsets it consumed (``stream_offsets``).

The write runs in a process of its own by default (:class:`WriterProcess`;
``ATTAIN_STREAM_WRITER_PROCESS=0``: in the worker's SQL thread). ``Engine.process`` is Python work
(validation, the plan, the roll-up rows, the plugins' hooks) that in the worker's process shares
one interpreter lock with Faust's consumer and event loop, so a worker's throughput was at most
1 / (1 / engine + 1 / Faust) of the two alone (``ratio_ceiling`` in benchmarks/streams.py). In
its own process the batch is written on another core while the event loop takes the next one.
The process has its own store, engine and plugins (the hooks run there, as in any embedded
runner); only the batch's records go in and only what the worker needs comes back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, cast

from attain.core import Engine, Record, Result, Store, get_plugins
from attain.core.store import save_stream_offsets
from faust.serializers.codecs import dumps as codec_dumps
from sqlalchemy.engine import Connection

from .helper_process import HelperProcess
from .messages import accepted_times

#: a snapshot that won, for the worker's ``deal-state`` table: its version, its state (JSON
#: types) and that state as the table's changelog value
State = tuple[int, dict[str, Any], bytes]
#: the result (counts and changed roll-up rows only), the dead letters ``(tenant, reason,
#: payload, source)``, the snapshots that won (by tenant and deal id; none without a table),
#: the plugin failures the call caused and the Kafka timestamps of its accepted events if it
#: changed KPI rows
Written = tuple[Result, list[tuple[str, str, str, str]], dict[tuple[str, str], State],
                dict[tuple[str, str], int], list[float]]


def write_batch(engine: Engine, records: Sequence[Record], tenant: str, group: str, topic: str,
                offsets: Mapping[int, int], produced: Mapping[str, float], states: bool) -> Written:
    """``records`` (one tenant's, in offset order) in one transaction with the partitions' next
    ``offsets`` (those the worker's ledger says the batch moves forward); with ``states``, the
    winning snapshots encoded for the table here too (the worker's event loop then only stores
    and sends them)."""

    def save_offsets(conn: Connection) -> None:
        save_stream_offsets(conn, group, topic, dict(offsets))

    plugins = engine.plugins
    before = Counter(plugins.errors)  # (only this thread of this process runs the hooks)
    res = engine.process(list(records), tenant=None, default_tenant=tenant, in_transaction=save_offsets)
    errors = Counter(plugins.errors)
    errors.subtract(before)
    rejected = [(r.tenant, r.reason, r.payload, r.source) for r in res.rejections]
    times: list[float] = []
    if res.changed_cells and res.accepted and produced:
        accepted = Counter(ev.event_id for outs in res.outcomes.values() for ev, o in outs
                           if o == "accepted")
        times = accepted_times(records, accepted, produced)
    latest: dict[tuple[str, str], State] = {}
    if states:
        for key, deal in res.latest_snapshots().items():
            state = deal.model_dump(mode="json")
            latest[key] = (deal.version, state, codec_dumps("json", state))
    # what the worker needs of the result: the counts and the changed rows, not every event
    res.outcomes, res.previous, res.rejections = {}, {}, []
    return res, rejected, latest, {k: n for k, n in errors.items() if n > 0}, times


# -- in a process of its own ----------------------------------------------------------------------

_engine: Engine | None = None


def _start(url: str) -> None:
    """The writer process's initializer: its own store (already migrated by the worker; SQLite's
    log checkpointed by a thread of its own, as the worker's store was), engine and plugins."""
    global _engine
    store = Store(url, run_migrations=False)
    store.checkpoint_in_background()
    _engine = Engine(store, get_plugins())


def _write(records: Sequence[Record], tenant: str, group: str, topic: str,
           offsets: Mapping[int, int], produced: Mapping[str, float], states: bool) -> Written:
    if _engine is None:  # pragma: no cover - the initializer always ran
        raise RuntimeError("the batch writer process was not initialised")
    return write_batch(_engine, records, tenant, group, topic, offsets, produced, states)


class WriterProcess(HelperProcess):
    """The process that writes batches, one at a time, in order. If it dies mid-batch, the
    batch's transaction is rolled back by the database and the worker retries it in a new
    process (a batch that did commit before is seen again as duplicates)."""

    def __init__(self, url: str) -> None:
        super().__init__(_start, url)

    async def write(self, records: Sequence[Record], tenant: str, group: str, topic: str,
                    offsets: Mapping[int, int], produced: Mapping[str, float], states: bool) -> Written:
        return cast(Written, await self.call(_write, list(records), tenant, group, topic, dict(offsets),
                                             dict(produced), states))
