"""The engine: the one entry point that applies events (:meth:`Engine.process`) and the public
read API plugins use (:meth:`Engine.events`, :meth:`Engine.snapshots`, :meth:`Engine.kpis` …).

The embedded runner (``attain ingest``/``import``) and the Faust workers call
:meth:`Engine.process`, one batch per call, so the stream and the embedded runner share every
line of processing code. The engine orchestrates; the work is done by
:mod:`.validation` (inputs → events), :mod:`.planner` (events → rows and KPI deltas, against the
stored state), :mod:`.store.writer` (the batch's SQL) and :mod:`.kpi` (pure KPI functions).

One batch is one database transaction: the event log rows, the deals' new snapshots, the KPI
cell deltas, the counters and the dead letters are committed together. Redelivering a batch after
a crash is therefore harmless: its events are recognised as duplicates.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from .batching import batched
from .engine_reads import EngineReads
from .fx import NO_RATES, Rates
from .kpi import (
    Components,
    Contributor,
    add_into,
    day_cell,
    fact_day_cell,
)
from .models import AnyEvent, DealEvent
from .planner import plan_batch
from .plugins import Plugins, get_plugins
from .records import Record, Rejection, Result, payload_text, storable_payload
from .rollups import (
    DayCell,
    expand,
)
from .store import Store, bump_counters, fxrates, lock_tenant
from .store import reads as store_reads
from .store.writer import (
    CONTENT_ERRORS,
    BatchWriter,
    database_reason,
    dead_letter_rows,
    write_dead_letters,
)
from .validation import CONFLICT_REASON, explain_validation, validate_records

log = logging.getLogger("attain.engine")

SETTINGS_TTL_S = 5.0
SIGNATURE_KEY = "kpi_signature"


@dataclass
class Prepared:
    """A validated batch grouped by tenant, before it touches the store."""

    by_tenant: dict[str, list[tuple[Record, AnyEvent]]]
    bad: list[tuple[Record, str]]
    dl_tenant: str  # where dead letters go
    errors_before: Counter[tuple[str, str]]


@dataclass
class Written:
    """What a batch's transaction committed: its result, every valid event's outcome per tenant
    (for the post-commit hooks), the snapshots accepted deals replaced and the inputs
    dead-lettered inside it, per tenant."""

    result: Result = field(default_factory=Result)
    outcomes: dict[str, list[tuple[AnyEvent, str]]] = field(default_factory=dict)
    previous: dict[str, dict[str, DealEvent]] = field(default_factory=dict)
    refused: list[tuple[str, Record, str]] = field(default_factory=list)


class Engine(EngineReads):
    """Applies events to a :class:`~attain.core.store.Store` and reads them back.

    Public API for plugins (every read is scoped to one tenant):

    * :meth:`process` — validate and apply a batch; its :class:`~attain.core.records.Result`
      says what was accepted (``outcomes``, ``previous``) and rejected (``rejections``);
    * :meth:`events` — the event log, filtered by type, entity, time or text;
    * :meth:`snapshots` / :meth:`deals` — the latest snapshot of deals; :meth:`facts` — leads
      and activities;
    * :meth:`dimensions`, :meth:`metrics`, :meth:`kpis`, :meth:`kpis_where`;
    * :meth:`disabled` — the plugins disabled for a tenant; :attr:`store`, :attr:`plugins`.

    The reads are in :mod:`attain.core.engine_reads`.
    """

    def __init__(self, store: Store, plugins: Plugins | None = None) -> None:
        self.store = store
        self.plugins = plugins or get_plugins()
        self._contributors: dict[frozenset[str], Contributor] = {}
        self._signature: tuple[tuple[str, ...], str] | None = None
        self._disabled_cache: dict[str, tuple[float, set[str]]] = {}
        self._rates_cache: dict[str, tuple[str, Rates]] = {}

    # -- helpers -------------------------------------------------------------------------------

    def disabled(self, tenant: str) -> set[str]:
        """Plugins disabled for ``tenant``; re-read every few seconds so a long-running worker
        follows `attain plugins enable|disable` without a restart."""
        now = time.monotonic()
        hit = self._disabled_cache.get(tenant)
        if hit is None or now - hit[0] > SETTINGS_TTL_S:
            hit = (now, self.store.disabled_plugins(tenant))
            self._disabled_cache[tenant] = hit
        return hit[1]

    def contributor(self, tenant: str | None = None) -> Contributor:
        """Components are kept for every loaded metric; tenants' settings filter what is shown.

        With ``tenant``, deal amounts are converted to the tenant's reporting currency at its
        exchange rates (:mod:`attain.core.fx`); without, amounts are taken as they are."""
        key = frozenset(self.plugins.metrics)
        c = self._contributors.get(key)
        if c is None:
            c = Contributor(
                self.plugins.metrics.values(),
                on_error=lambda plugin, exc: self.plugins.record_error(plugin, "contribute", exc),
            )
            self._contributors = {key: c}
        if tenant is None:
            return c
        with self.store.connect() as conn:
            return c.with_rates(self._rates(conn, tenant))

    def _rates(self, conn: Connection, tenant: str) -> Rates:
        """The tenant's exchange rates, read again only when their generation changed."""
        gen = fxrates.generation(conn, tenant)
        hit = self._rates_cache.get(tenant)
        if hit is None or hit[0] != gen:
            hit = (gen, fxrates.read_rates(conn, tenant) if gen else NO_RATES)
            self._rates_cache[tenant] = hit
        return hit[1]

    def _tenant_signature(self, conn: Connection, tenant: str) -> str:
        """The metrics' signature and the tenant's exchange-rate generation: a change of either
        rebuilds the tenant's KPI cells."""
        return f"{self.signature()}/fx:{fxrates.generation(conn, tenant)}"

    def signature(self) -> str:
        """Which metric plugins (and versions) the stored KPI components were computed with
        (every batch checks it: the hash is kept for the same plugins, versions and names)."""
        dists = self.plugins.distributions
        parts = tuple(sorted(f"{m.plugin}={dists.get(m.plugin, (None, None))[1]}:{m.name}"
                             f"{'+core' if m.reads_core else ''}"
                             for m in self.plugins.metrics.values()))
        hit = self._signature
        if hit is not None and hit[0] == parts:
            return hit[1]
        sig = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
        self._signature = (parts, sig)
        return sig

    # -- validation ----------------------------------------------------------------------------

    def validate(
        self, records: Iterable[Record], tenant: str | None = None
    ) -> tuple[list[tuple[Record, AnyEvent]], list[tuple[Record, str]]]:
        """Valid events (with their records) and invalid records (with the reason)."""
        good, bad, _ = validate_records(records, tenant)
        return good, bad

    # -- processing ----------------------------------------------------------------------------

    def process(self, records: Iterable[Record], tenant: str | None = None,
                default_tenant: str = "default", *,
                in_transaction: Callable[[Connection], None] | None = None) -> Result:
        """Validate and apply one batch in one transaction; returns what happened.

        ``in_transaction(conn)``, if given, runs inside that transaction after the batch's
        writes, so whatever it writes commits (or rolls back) together with them: the stream
        worker stores the Kafka offsets the batch consumed this way
        (:func:`attain.core.store.save_stream_offsets`).
        """
        # A batch allocates many small objects that all die together; the cyclic GC rescanning
        # them mid-batch cost ~40 % of ingest time. Reference counting still frees them.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._process_prepared(self._prepare(records, tenant, default_tenant),
                                          in_transaction)
        finally:
            if gc_was_enabled:
                gc.enable()

    def _prepare(self, records: Iterable[Record], tenant: str | None,
                 default_tenant: str) -> Prepared:
        """Validate a batch, group it by tenant and call ``attain_event_received`` (no I/O but
        the plugins')."""
        errors_before = Counter(self.plugins.errors)
        good, bad, mixed = validate_records(records, tenant)
        by_tenant: dict[str, list[tuple[Record, AnyEvent]]] = {}
        if mixed:
            for rec, ev in good:
                by_tenant.setdefault(ev.tenant, []).append((rec, ev))
        elif good:
            by_tenant[good[0][1].tenant] = good
        if self.plugins.has_impls("attain_event_received"):
            for t, items in by_tenant.items():
                self.plugins.event_received([ev for _, ev in items], t, self, self.disabled(t))
        return Prepared(by_tenant, bad, tenant or default_tenant, errors_before)

    def _process_prepared(self, prep: Prepared,
                          in_transaction: Callable[[Connection], None] | None = None) -> Result:
        dead = dead_letter_rows(prep.dl_tenant, prep.bad) if prep.bad else []
        try:
            written = self._transaction(prep, dead, in_transaction, isolate=False)
        except CONTENT_ERRORS as exc:
            # A deal event newer than its deal's stored version may reuse the id of a stored
            # event (the planner does not look those ids up), or an event holds what the
            # database refuses: redo the batch looking every id up, isolating such events.
            log.info("the batch's write failed (%s); writing it again part by part",
                     database_reason(exc))
            written = self._transaction(prep, dead, in_transaction, isolate=True)
        res = written.result
        res.outcomes = written.outcomes
        res.previous = written.previous
        res.rejections = [Rejection(prep.dl_tenant, reason, rec) for rec, reason in prep.bad]
        res.rejections += [Rejection(t, reason, rec) for t, rec, reason in written.refused]
        self._finish(prep, written)
        return res

    def _transaction(self, prep: Prepared, dead: list[dict[str, Any]],
                     in_transaction: Callable[[Connection], None] | None,
                     isolate: bool) -> Written:
        """The batch's one transaction.

        With ``isolate``, every event id is looked up and each tenant's events are written in
        savepoints: a part whose write fails for a reason tied to its content
        (:data:`CONTENT_ERRORS`) is rolled back and halved until the events the database
        refuses are found. Those are dead-lettered with the database's message; every other
        event is committed, in order, so the result is that of the batch without them.
        """
        w = Written()
        with self.store.connect(write=True) as conn:
            with conn.begin():
                writer = BatchWriter(conn)
                for t, items in prep.by_tenant.items():
                    lock_tenant(conn, t)
                    self._ensure_signature(conn, t)
                    if isolate:
                        refused = self._write_isolating(conn, writer, t, items, w)
                        if refused:
                            write_dead_letters(conn, t, dead_letter_rows(t, refused))
                            w.result.rejected += len(refused)
                            w.refused += [(t, rec, reason) for rec, reason in refused]
                    else:
                        self._write(writer, t, items, w, check_all_ids=False)
                if dead:
                    write_dead_letters(conn, prep.dl_tenant, dead)
                    w.result.rejected += len(dead)
                if in_transaction is not None:
                    in_transaction(conn)
        return w

    def _write(self, writer: BatchWriter, tenant: str, items: Sequence[tuple[Record, AnyEvent]],
               w: Written, check_all_ids: bool) -> None:
        contribute = self.contributor().with_rates(self._rates(writer.conn, tenant))
        plan, res, outs, previous = plan_batch(writer, contribute, tenant, items, check_all_ids)
        writer.write_plan(plan)
        w.result.add(res)
        w.outcomes.setdefault(tenant, []).extend(outs)
        prev = w.previous.setdefault(tenant, {})
        for d, snap in previous.items():
            prev.setdefault(d, snap)
        w.refused += [(tenant, rec, reason) for rec, reason in plan.conflicts]

    def _write_isolating(self, conn: Connection, writer: BatchWriter, tenant: str,
                         items: Sequence[tuple[Record, AnyEvent]],
                         w: Written) -> list[tuple[Record, str]]:
        """Write ``items`` in savepoints, halving parts whose write fails for a reason tied to
        their content; returns the refused records with the database's reason."""
        refused: list[tuple[Record, str]] = []
        parts: list[Sequence[tuple[Record, AnyEvent]]] = [items]
        w.outcomes.setdefault(tenant, [])
        while parts:
            part = parts.pop(0)
            savepoint = conn.begin_nested()
            try:
                part_w = Written()
                self._write(writer, tenant, part, part_w, check_all_ids=True)
            except CONTENT_ERRORS as exc:
                savepoint.rollback()
                if len(part) == 1:
                    reason = database_reason(exc)
                    log.error("%s: %s", part[0][0].source or tenant, reason)
                    refused.append((part[0][0], reason))
                else:
                    mid = len(part) // 2
                    parts[:0] = [part[:mid], part[mid:]]  # both halves next, in order
                continue
            savepoint.commit()
            w.result.add(part_w.result)
            w.outcomes[tenant] += part_w.outcomes.get(tenant, [])
            prev = w.previous.setdefault(tenant, {})
            for d, snap in part_w.previous.get(tenant, {}).items():
                prev.setdefault(d, snap)
            w.refused += part_w.refused
        return refused

    def _finish(self, prep: Prepared, written: Written) -> None:
        """After the batch committed: the post-commit hooks and the plugin failures it caused."""
        outcomes = written.outcomes
        plugins = self.plugins
        if plugins.has_impls("attain_event_processed"):
            for t, outs in outcomes.items():
                plugins.event_processed(outs, t, self, self.disabled(t))
        if plugins.has_impls("attain_batch_processed"):
            for t, outs in outcomes.items():
                if outs:
                    plugins.batch_processed(t, outs, self, self.disabled(t),
                                            previous=written.previous.get(t, {}))
        if plugins.has_impls("attain_event_rejected"):
            refused = [(prep.dl_tenant, rec, reason) for rec, reason in prep.bad] + written.refused
            for t, rec, reason in refused:
                plugins.event_rejected(t, reason, payload_text(rec.payload), rec.source,
                                       self.disabled(t))
        new_errors = Counter(plugins.errors)
        new_errors.subtract(prep.errors_before)
        if +new_errors:
            # Every plugin failure of this batch (received, contribute, processed, rejected),
            # counted per plugin and hook in the tenant's counters.
            t0 = next(iter(prep.by_tenant), prep.dl_tenant)
            with self.store.transaction() as conn:
                bump_counters(conn, t0, {
                    f'attain_plugin_errors_total{{plugin="{p}",hook="{h}"}}': n
                    for (p, h), n in new_errors.items() if n > 0
                })

    # -- KPI cells: rebuild and read -----------------------------------------------------------

    def _ensure_signature(self, conn: Connection, tenant: str) -> None:
        sig = self._tenant_signature(conn, tenant)
        if store_reads.get_meta(conn, tenant, SIGNATURE_KEY) == sig:
            return
        self._rebuild(conn, tenant)
        store_reads.set_meta(conn, tenant, SIGNATURE_KEY, sig)

    def _rebuild(self, conn: Connection, tenant: str) -> None:
        """Recompute every KPI roll-up of ``tenant`` from the deals' latest snapshots and the
        stored facts (lead and activity events)."""
        contribute = self.contributor().with_rates(self._rates(conn, tenant))
        cells: dict[DayCell, Components] = {}
        for d in store_reads.read_snapshots(conn, tenant):
            add_into(cells, day_cell(d), contribute(d))
        if contribute.fact_types:
            for _, f in store_reads.read_events(conn, tenant, types=contribute.fact_types):
                comps = contribute(f)
                if comps:
                    add_into(cells, fact_day_cell(f), comps)
        store_reads.replace_rollups(conn, tenant, expand(cells, contribute.priced))

    def rebuild(self, tenant: str) -> None:
        """Recompute the tenant's KPI roll-ups from the stored snapshots and facts."""
        with self.store.transaction(tenant) as conn:
            self._rebuild(conn, tenant)
            store_reads.set_meta(conn, tenant, SIGNATURE_KEY, self._tenant_signature(conn, tenant))

    def _fresh(self, tenant: str) -> None:
        """Rebuild the tenant's roll-ups first when the loaded metrics changed (or when they were
        never built for stored events: a database migrated from the cell cube), or the tenant's
        exchange rates."""
        with self.store.connect() as conn:
            sig = store_reads.get_meta(conn, tenant, SIGNATURE_KEY)
            want = self._tenant_signature(conn, tenant)
            stale = sig != want and (sig is not None or store_reads.has_data(conn, tenant))
        if stale:
            self.rebuild(tenant)

    def rollup_rows(self, tenant: str, dim: str, grain: str, periods: Sequence[str] | None = None,
                    names: Sequence[str] | None = None) -> list[tuple[str, str, str, Components]]:
        """The tenant's stored roll-up rows ``(name, grain, period, components)`` of ``dim``
        (``all``, ``rep``, ``product``, ``account``) and ``grain`` (``total``, ``year`` …
        ``day``), of ``periods`` / ``names`` (all when None): see :mod:`attain.core.rollups`."""
        self._fresh(tenant)
        with self.store.connect() as conn:
            return store_reads.read_rollups(conn, tenant, dim, grain, periods, names)


deal_from_row = store_reads.deal_from_row

__all__ = ["CONFLICT_REASON", "Engine", "Record", "Result", "batched", "deal_from_row",
           "explain_validation", "storable_payload"]
