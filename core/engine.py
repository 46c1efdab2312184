"""The embedded runner: validates events, applies them to the store through the pure processing
functions of :mod:`attain.core.kpi`, dead-letters bad input and calls the plugins' hooks.

The Faust workers call :meth:`Engine.process` too, one batch per poll, so the stream and the
embedded runner share every line of processing code.

One batch is one database transaction: the event log rows, the deals' new snapshots, the KPI
cell deltas, the counters and the dead letters are committed together. Redelivering a batch after
a crash is therefore harmless: its events are recognised as duplicates.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
import logging
import queue
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, and_, delete, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from .kpi import (
    FACT_TYPES,
    CellKey,
    Components,
    Contributor,
    Dimensions,
    Metric,
    add_into,
    cell_of,
    classify,
    fact_cell,
    rollup,
)
from .models import (
    EVENT_ADAPTER,
    Account,
    ActivityEvent,
    AnyEvent,
    DealEvent,
    LeadEvent,
    Product,
    Rep,
    entity_key,
    float_money_seen,
    parse_exact,
)
from .plugins import Plugins, get_plugins
from .store import (
    AccountRow,
    CounterRow,
    DeadLetterRow,
    DealRow,
    EventRow,
    KpiCellRow,
    MetaRow,
    ProductRow,
    RepRow,
    Store,
    cell_id,
    dumps_components,
    loads_components,
)

log = logging.getLogger("attain.engine")

CHUNK = 500  # ids per IN (...) query
SETTINGS_TTL_S = 5.0


class Record:
    """One input to validate: raw JSON text/bytes, a dict, or an already validated event.

    ``source`` says where it came from (``file.jsonl:17``, ``kafka:attain.events/2@1041``);
    with ``numbered=True`` it is built from ``source`` and ``line`` only when asked for (most
    records are never asked: only dead letters and hooks read it).
    """

    __slots__ = ("payload", "_source", "line", "_numbered")

    def __init__(self, payload: str | bytes | Mapping[str, Any] | AnyEvent, source: str = "",
                 line: int | None = None, *, numbered: bool = False) -> None:
        self.payload = payload
        self._source = source
        self.line = line
        self._numbered = numbered

    @property
    def source(self) -> str:
        return f"{self._source}:{self.line}" if self._numbered else self._source

    def __repr__(self) -> str:
        return f"Record({self.payload!r}, source={self.source!r}, line={self.line!r})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Record) and (self.payload, self.source, self.line)
                == (other.payload, other.source, other.line))

    __hash__ = None  # type: ignore[assignment]


@dataclass
class Result:
    accepted: int = 0
    duplicates: int = 0
    stale: int = 0
    rejected: int = 0
    changed_cells: set[tuple[str, CellKey]] = field(default_factory=set)

    def add(self, other: Result) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.stale += other.stale
        self.rejected += other.rejected
        self.changed_cells |= other.changed_cells

    def summary(self) -> str:
        return (
            f"accepted {self.accepted}, duplicates {self.duplicates}, "
            f"stale {self.stale}, rejected {self.rejected}"
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "stale": self.stale,
            "rejected": self.rejected,
        }


def explain_validation(exc: ValidationError) -> str:
    """A one-line, human-readable reason from a pydantic error."""
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        loc = ".".join(str(x) for x in err.get("loc", ()) if x not in ("deal", "lead", "activity", "customer"))
        msg = err.get("msg", "invalid")
        if err.get("type") == "json_invalid":
            parts.append(f"invalid JSON: {err.get('ctx', {}).get('error', msg)}")
        elif loc:
            parts.append(f"{loc}: {msg}")
        else:
            parts.append(msg)
    more = exc.error_count() - 5
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def _payload_text(payload: Any) -> str:
    if isinstance(payload, bytes):
        return payload.decode("utf-8", "replace")
    if isinstance(payload, str):
        return payload
    if hasattr(payload, "model_dump_json"):
        return str(payload.model_dump_json())
    try:
        return json.dumps(payload, default=str)
    except (TypeError, ValueError):
        return repr(payload)


def _lock_id(tenant: str) -> int:
    return zlib.crc32(f"attain:{tenant}".encode()) & 0x7FFFFFFF


def deal_from_row(r: Any) -> DealEvent:
    return DealEvent.model_construct(
        type="deal", event_id=r.event_id, tenant=r.tenant, occurred_at=r.occurred_at,
        deal_id=r.deal_id, version=r.version, owner=r.owner, account=r.account,
        product=r.product, stage=r.stage, status=r.status, amount=r.amount,
        currency=r.currency, engaged_on=r.engaged_on, closed_on=r.closed_on,
    )


_NO_OFFSET = dt.timedelta(0)


def _naive_utc(t: dt.datetime) -> dt.datetime:
    if t.tzinfo is None:
        return t
    if t.utcoffset() == _NO_OFFSET:
        return t.replace(tzinfo=None)
    return t.astimezone(dt.UTC).replace(tzinfo=None)


@dataclass
class Prepared:
    """A validated batch grouped by tenant, before it touches the store."""

    by_tenant: dict[str, list[tuple[Record, AnyEvent]]]
    bad: list[tuple[Record, str]]
    dl_tenant: str  # where dead letters go
    errors_before: Counter[tuple[str, str]]


@dataclass
class Plan:
    """What one batch writes for one tenant: event-log rows, new deal snapshots (as rows), KPI
    cell deltas and counters."""

    tenant: str
    log_rows: list[tuple[Any, ...]]
    deal_rows: list[tuple[Any, ...]]
    deltas: dict[CellKey, Components]
    counts: dict[str, int]


def lock_tenant(conn: Connection, tenant: str) -> None:
    """Serialize writers of one tenant (PostgreSQL; SQLite's BEGIN IMMEDIATE already does)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_id(tenant)})


def bump_counters(conn: Connection, tenant: str, counts: Mapping[str, int]) -> None:
    if not counts:
        return
    t: Any = CounterRow.__table__
    ins: Any = postgresql.insert(t) if conn.dialect.name == "postgresql" else sqlite.insert(t)
    stmt = ins.on_conflict_do_update(
        index_elements=["tenant", "name"], set_={"value": t.c.value + ins.excluded.value}
    )
    conn.execute(stmt, [{"tenant": tenant, "name": k, "value": v} for k, v in counts.items()])


def write_dead_letters(conn: Connection, tenant: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(DeadLetterRow), rows)
        bump_counters(conn, tenant, {'attain_events_total{outcome="rejected"}': len(rows)})


def write_plan(conn: Connection, plan: Plan) -> None:
    """Write a plan inside the caller's transaction (the one it was planned in)."""
    raw = _Raw(conn)
    raw.insert_events(plan.log_rows)
    raw.upsert_deals(plan.deal_rows)
    if plan.deltas:
        raw.apply_cell_deltas(plan.tenant, plan.deltas)
    bump_counters(conn, plan.tenant, plan.counts)


class Engine:
    """Applies events to a :class:`Store` and reads KPIs back."""

    def __init__(self, store: Store, plugins: Plugins | None = None) -> None:
        self.store = store
        self.plugins = plugins or get_plugins()
        self._contributors: dict[frozenset[str], Contributor] = {}
        self._disabled_cache: dict[str, tuple[float, set[str]]] = {}

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

    def contributor(self) -> Contributor:
        """Components are kept for every loaded metric; tenants' settings filter what is shown."""
        key = frozenset(self.plugins.metrics)
        c = self._contributors.get(key)
        if c is None:
            c = Contributor(
                self.plugins.metrics.values(),
                on_error=lambda plugin, exc: self.plugins.record_error(plugin, "contribute", exc),
            )
            self._contributors = {key: c}
        return c

    def signature(self) -> str:
        """Which metric plugins (and versions) the stored KPI components were computed with."""
        parts = sorted(
            f"{m.plugin}={self.plugins.distributions.get(m.plugin, (None, None))[1]}:{m.name}"
            for m in self.plugins.metrics.values()
        )
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]

    # -- validation ----------------------------------------------------------------------------

    def validate(
        self, records: Iterable[Record], tenant: str | None = None
    ) -> tuple[list[tuple[Record, AnyEvent]], list[tuple[Record, str]]]:
        """Valid events (with their records) and invalid records (with the reason)."""
        good, bad, _ = self._validate(records, tenant)
        return good, bad

    def _validate(
        self, records: Iterable[Record], tenant: str | None
    ) -> tuple[list[tuple[Record, AnyEvent]], list[tuple[Record, str]], bool]:
        """:meth:`validate`, and whether the valid events name more than one tenant."""
        good: list[tuple[Record, AnyEvent]] = []
        bad: list[tuple[Record, str]] = []
        keep = good.append
        validate_json = EVENT_ADAPTER.validate_json
        first: str | None = None
        mixed = False
        float_money_seen()  # (a flag left by a validation elsewhere)
        for rec in records:
            p = rec.payload
            try:
                if isinstance(p, (str, bytes)):
                    try:
                        ev = validate_json(p)
                    except ValidationError:
                        if not float_money_seen():
                            raise
                        ev = parse_exact(p)  # the float may be what made it invalid
                    else:
                        if float_money_seen():  # an amount written as a JSON float: read it exactly
                            ev = parse_exact(p)
                elif isinstance(p, Mapping):
                    ev = EVENT_ADAPTER.validate_python(p)
                    float_money_seen()  # a Python float is taken as it is (its repr)
                else:
                    ev = p
            except ValidationError as exc:
                bad.append((rec, explain_validation(exc)))
                continue
            t = ev.tenant
            if tenant is not None and t != tenant:
                if "tenant" in ev.model_fields_set:
                    bad.append((rec, f"tenant: event is for tenant {t!r}, not {tenant!r}"))
                    continue
                ev = ev.model_copy(update={"tenant": tenant})
                t = tenant
            if first is None:
                first = t
            elif t != first:
                mixed = True
            keep((rec, ev))
        return good, bad, mixed

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
        good, bad, mixed = self._validate(records, tenant)
        by_tenant: dict[str, list[tuple[Record, AnyEvent]]] = {}
        if mixed:
            for rec, ev in good:
                by_tenant.setdefault(ev.tenant, []).append((rec, ev))
        elif good:
            by_tenant[good[0][1].tenant] = good
        if self.plugins.has_impls("attain_event_received"):
            for t, items in by_tenant.items():
                off = self.disabled(t)
                for _, ev in items:
                    self.plugins.call("attain_event_received", off, event=ev, tenant=t, engine=self)
        return Prepared(by_tenant, bad, tenant or default_tenant, errors_before)

    def _process_prepared(self, prep: Prepared,
                          in_transaction: Callable[[Connection], None] | None = None) -> Result:
        dead = self._dead_letter_rows(prep) if prep.bad else []
        try:
            result, outcomes = self._transaction(prep, dead, in_transaction, check_all_ids=False)
        except IntegrityError as exc:
            # A deal event newer than its deal's stored version reuses the id of a stored event
            # (plan() does not look those ids up): redo the batch looking every id up.
            log.info("an event id of the batch was already stored (%s); re-planning the batch",
                     str(exc).splitlines()[0])
            result, outcomes = self._transaction(prep, dead, in_transaction, check_all_ids=True)
        self._finish(prep, outcomes)
        return result

    def _transaction(self, prep: Prepared, dead: list[dict[str, Any]],
                     in_transaction: Callable[[Connection], None] | None, check_all_ids: bool,
                     ) -> tuple[Result, dict[str, list[tuple[AnyEvent, str]]]]:
        result = Result()
        outcomes: dict[str, list[tuple[AnyEvent, str]]] = {}
        with self.store.engine.connect().execution_options(write_lock=True) as conn:
            with conn.begin():
                raw = _Raw(conn)
                for t, items in prep.by_tenant.items():
                    lock_tenant(conn, t)
                    self._ensure_signature(conn, t)
                    plan, res, outs = self._plan(raw, t, items, check_all_ids=check_all_ids)
                    write_plan(conn, plan)
                    result.add(res)
                    outcomes[t] = outs
                if dead:
                    write_dead_letters(conn, prep.dl_tenant, dead)
                    result.rejected = len(dead)
                if in_transaction is not None:
                    in_transaction(conn)
        return result, outcomes

    def _finish(self, prep: Prepared, outcomes: dict[str, list[tuple[AnyEvent, str]]]) -> None:
        """After the batch committed: the post-commit hooks and the plugin failures it caused.
        ``outcomes``: per tenant, every valid event of the batch with its outcome."""
        if self.plugins.has_impls("attain_event_processed"):
            for t, outs in outcomes.items():
                off = self.disabled(t)
                for ev, o in outs:
                    self.plugins.call("attain_event_processed", off, event=ev, tenant=t,
                                      outcome=o, engine=self)
        if self.plugins.has_impls("attain_batch_processed"):
            for t, outs in outcomes.items():
                if outs:
                    self.plugins.call("attain_batch_processed", self.disabled(t), tenant=t,
                                      outcomes=outs, engine=self)
        if prep.bad and self.plugins.has_impls("attain_event_rejected"):
            for rec, reason in prep.bad:
                self.plugins.call("attain_event_rejected", self.disabled(prep.dl_tenant),
                                  tenant=prep.dl_tenant, reason=reason,
                                  payload=_payload_text(rec.payload), source=rec.source)
        new_errors = Counter(self.plugins.errors)
        new_errors.subtract(prep.errors_before)
        if +new_errors:
            # Every plugin failure of this batch (received, contribute, processed, rejected),
            # counted per plugin and hook in the tenant's counters.
            t0 = next(iter(prep.by_tenant), prep.dl_tenant)
            with self.store.engine.connect().execution_options(write_lock=True) as conn:
                with conn.begin():
                    bump_counters(conn, t0, {
                        f'attain_plugin_errors_total{{plugin="{p}",hook="{h}"}}': n
                        for (p, h), n in new_errors.items() if n > 0
                    })

    def _dead_letter_rows(self, prep: Prepared) -> list[dict[str, Any]]:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        for rec, reason in prep.bad:
            log.warning("dead letter %s: %s", rec.source, reason)
        return [{"tenant": prep.dl_tenant, "source": rec.source, "line": rec.line, "reason": reason,
                 "payload": _payload_text(rec.payload), "created_at": now}
                for rec, reason in prep.bad]

    def _plan(self, raw: _Raw, tenant: str, items: Sequence[tuple[Record, AnyEvent]],
             check_all_ids: bool = True) -> tuple[Plan, Result, list[tuple[AnyEvent, str]]]:
        """Classify one tenant's events against the stored state (read through ``raw``, inside
        the batch's transaction) and compute the rows and KPI deltas to write.

        Which event ids are looked up in the event log: with ``check_all_ids``, every one. Else
        only those of facts and of deal events that are not newer than their deal's stored
        version (a duplicate or a stale event): a deal event that is newer cannot have been
        stored already unless its id was reused for another event, and then the event log's
        unique index rejects the batch's insert (the caller re-plans with ``check_all_ids``).
        """
        res = Result()
        deal_set: set[str] = set()
        lookup: set[str] = set()
        for _, ev in items:
            if type(ev) is DealEvent:
                deal_set.add(ev.deal_id)
            else:
                lookup.add(ev.event_id)
        stored = raw.load_deals(tenant, list(deal_set))
        if check_all_ids:
            lookup.update(ev.event_id for _, ev in items)
        else:
            for _, ev in items:
                if type(ev) is DealEvent:
                    old = stored.get(ev.deal_id)
                    if old is not None and ev.version <= old.version:
                        lookup.add(ev.event_id)
        seen = raw.seen_event_ids(tenant, list(lookup)) if lookup else set()

        current: dict[str, DealEvent] = dict(stored)
        facts: list[AnyEvent] = []
        log_rows: list[tuple[Any, ...]] = []
        outs: list[tuple[AnyEvent, str]] = []
        accepted = stale = duplicates = 0
        for rec, ev in items:
            eid = ev.event_id
            if eid in seen:
                duplicates += 1
                outs.append((ev, "duplicate"))
                continue
            seen.add(eid)
            if type(ev) is DealEvent:
                version: int | None = ev.version
                cur = current.get(ev.deal_id)
                outcome = classify(False, None if cur is None else cur.version, ev.version)
                if outcome == "accepted":
                    current[ev.deal_id] = ev
                    accepted += 1
                else:
                    stale += 1
                outs.append((ev, outcome))
                entity = ev.deal_id
            else:
                version = None
                facts.append(ev)
                accepted += 1
                outs.append((ev, "accepted"))
                entity = entity_key(ev)
            p = rec.payload
            payload = p.decode() if type(p) is bytes else p if isinstance(p, str) else ev.model_dump_json()
            log_rows.append((tenant, eid, ev.type, entity, version, payload))
        res.accepted, res.stale, res.duplicates = accepted, stale, duplicates

        changed = [d for d, e in current.items() if stored.get(d) is not e]
        deltas: dict[CellKey, Components] = {}
        if changed or facts:
            contribute = self.contributor()
            for d in changed:
                old = stored.get(d)
                if old is not None:
                    add_into(deltas, cell_of(old), contribute(old), -1)
                new = current[d]
                add_into(deltas, cell_of(new), contribute(new), +1)
            # Facts never change: an accepted one (its id is new) adds its contribution once.
            fact_types = contribute.fact_types
            for ev in facts:
                if ev.type in fact_types:
                    comps = contribute(ev)
                    if comps:
                        add_into(deltas, fact_cell(ev), comps)
        res.changed_cells = {(tenant, c) for c in deltas}
        counts = {
            'attain_events_total{outcome="accepted"}': res.accepted,
            'attain_events_total{outcome="duplicate"}': res.duplicates,
            'attain_events_total{outcome="stale"}': res.stale,
        }
        deal_row = raw.deal_row
        plan = Plan(tenant=tenant, log_rows=log_rows,
                    deal_rows=[deal_row(current[d]) for d in changed],
                    deltas=deltas, counts={k: v for k, v in counts.items() if v})
        return plan, res, outs

    def _upsert(self, conn: Connection, table: Any, rows: list[dict[str, Any]],
                keys: Sequence[str], update: Sequence[str]) -> None:
        if not rows:
            return
        ins: Any
        if conn.dialect.name == "postgresql":
            ins = postgresql.insert(table)
        else:
            ins = sqlite.insert(table)
        stmt = ins.on_conflict_do_update(
            index_elements=list(keys), set_={c: getattr(ins.excluded, c) for c in update}
        )
        conn.execute(stmt, rows)

    # -- KPI cells: rebuild and read -----------------------------------------------------------

    def _ensure_signature(self, conn: Connection, tenant: str) -> None:
        sig = self.signature()
        row = conn.execute(select(MetaRow.value).where(MetaRow.tenant == tenant,
                                                       MetaRow.key == "kpi_signature")).first()
        if row is not None and row[0] == sig:
            return
        self._rebuild(conn, tenant)
        self._upsert(conn, MetaRow.__table__, [{"tenant": tenant, "key": "kpi_signature", "value": sig}],
                     ("tenant", "key"), ("value",))

    def _rebuild(self, conn: Connection, tenant: str) -> None:
        """Recompute every KPI cell of ``tenant`` from the deals' latest snapshots and the stored
        facts (lead and activity events)."""
        conn.execute(delete(KpiCellRow).where(KpiCellRow.tenant == tenant))
        contribute = self.contributor()
        cells: dict[CellKey, Components] = {}
        for r in conn.execute(select(DealRow).where(DealRow.tenant == tenant)):
            d = deal_from_row(r)
            add_into(cells, cell_of(d), contribute(d))
        for f in self._read_facts(conn, tenant, contribute.fact_types):
            comps = contribute(f)
            if comps:
                add_into(cells, fact_cell(f), comps)
        rows = [{"tenant": tenant, "cell": cell_id(k), "owner": k[0], "product": k[1], "account": k[2],
                 "quarter": k[3], "components": dumps_components(v)} for k, v in cells.items()]
        if rows:
            conn.execute(insert(KpiCellRow), rows)

    def rebuild(self, tenant: str) -> None:
        with self.store.engine.connect().execution_options(write_lock=True) as conn:
            with conn.begin():
                lock_tenant(conn, tenant)
                self._rebuild(conn, tenant)
                self._upsert(conn, MetaRow.__table__,
                             [{"tenant": tenant, "key": "kpi_signature", "value": self.signature()}],
                             ("tenant", "key"), ("value",))

    def cells(self, tenant: str) -> dict[CellKey, Components]:
        with self.store.engine.connect() as conn:
            sig = conn.execute(select(MetaRow.value).where(
                MetaRow.tenant == tenant, MetaRow.key == "kpi_signature")).scalar()
        if sig is not None and sig != self.signature():
            self.rebuild(tenant)
        t = KpiCellRow.__table__
        with self.store.engine.connect() as conn:
            return {
                (o, p, a, q): loads_components(c)
                for o, p, a, q, c in conn.execute(
                    select(t.c.owner, t.c.product, t.c.account, t.c.quarter, t.c.components)
                    .where(t.c.tenant == tenant))
            }

    def dimensions(self, tenant: str) -> Dimensions:
        with self.store.session() as s:
            return Dimensions(
                reps={r.name: Rep(name=r.name, manager=r.manager, region=r.region)
                      for r in s.scalars(select(RepRow).where(RepRow.tenant == tenant))},
                accounts={a.name: Account(name=a.name, sector=a.sector, parent=a.parent)
                          for a in s.scalars(select(AccountRow).where(AccountRow.tenant == tenant))},
                products={p.name: Product(name=p.name, series=p.series, list_price=p.list_price)
                          for p in s.scalars(select(ProductRow).where(ProductRow.tenant == tenant))},
            )

    def metrics(self, tenant: str) -> list[Metric]:
        return self.plugins.metrics_for(self.disabled(tenant))

    def kpis(self, tenant: str, grouping: str) -> list[dict[str, object]]:
        """KPI rows for a grouping (see :func:`attain.core.kpi.rollup`)."""
        return rollup(self.cells(tenant), grouping, self.dimensions(tenant), self.metrics(tenant))

    def deals(self, tenant: str) -> Iterator[DealEvent]:
        """The latest snapshot of every deal of ``tenant`` (public API for plugins)."""
        with self.store.engine.connect() as conn:
            for r in conn.execute(select(DealRow).where(DealRow.tenant == tenant)):
                yield deal_from_row(r)

    def _read_facts(self, conn: Connection, tenant: str,
                    types: Iterable[str] = FACT_TYPES) -> Iterator[LeadEvent | ActivityEvent]:
        types = [t for t in types if t in FACT_TYPES]
        if not types:
            return
        t = EventRow.__table__
        q = (select(t.c.payload).where(t.c.tenant == tenant, t.c.type.in_(types))
             .order_by(t.c.id))
        for (payload,) in conn.execute(q):
            try:
                ev = EVENT_ADAPTER.validate_json(payload)
            except ValidationError as exc:  # accepted once; only a changed model gets here
                log.warning("stored %s event skipped: %s", tenant, explain_validation(exc))
                continue
            if not isinstance(ev, (LeadEvent, ActivityEvent)):
                continue
            if ev.tenant != tenant:  # stored as received; the tenant may have come from outside
                ev = ev.model_copy(update={"tenant": tenant})
            yield ev

    def facts(self, tenant: str) -> Iterator[LeadEvent | ActivityEvent]:
        """Every stored lead and activity event of ``tenant``, validated, in arrival order
        (public API for plugins). Facts never change; each event id appears once."""
        with self.store.engine.connect() as conn:
            yield from self._read_facts(conn, tenant)

    def kpis_where(self, tenant: str, grouping: str, where: Callable[[Any], bool],
                   metrics: Iterable[Metric] | None = None) -> list[dict[str, object]]:
        """KPI rows over the deals and facts that satisfy ``where`` (e.g. closed in a month,
        one team).

        ``where`` receives every deal's latest snapshot (:meth:`deals`) *and* every lead and
        activity event (:meth:`facts`): a predicate that reads deal fields (``closed_on``,
        ``status`` …) must check ``event.type == "deal"`` (or ``isinstance``) first. Facts
        have ``occurred_at`` and an ``owner`` (optional on leads).

        Computed with the same contribute/compute functions as the live cells, so it agrees
        with :meth:`kpis` on the same events. Goals and incentives use it for arbitrary periods
        and owners.
        """
        shown = list(self.metrics(tenant) if metrics is None else metrics)
        types = {t for m in shown for t in m.events}  # only read what the metrics count
        contribute = self.contributor()
        cells: dict[CellKey, Components] = {}
        if "deal" in types:
            for d in self.deals(tenant):
                if where(d):
                    add_into(cells, cell_of(d), contribute(d))
        if types.intersection(FACT_TYPES):
            for f in self.facts(tenant):
                if where(f):
                    comps = contribute(f)
                    if comps:
                        add_into(cells, fact_cell(f), comps)
        return rollup(cells, grouping, self.dimensions(tenant), shown)

    def save_dimensions(self, tenant: str, reps: Iterable[Rep] = (),
                        accounts: Iterable[Account] = (), products: Iterable[Product] = ()) -> None:
        with self.store.engine.connect().execution_options(write_lock=True) as conn:
            with conn.begin():
                self._upsert(conn, RepRow.__table__,
                             [{"tenant": tenant, **r.model_dump()} for r in reps],
                             ("tenant", "name"), ("manager", "region"))
                self._upsert(conn, AccountRow.__table__,
                             [{"tenant": tenant, **a.model_dump()} for a in accounts],
                             ("tenant", "name"), ("sector", "parent"))
                self._upsert(conn, ProductRow.__table__,
                             [{"tenant": tenant, **p.model_dump()} for p in products],
                             ("tenant", "name"), ("series", "list_price"))


DEAL_COLUMNS = ("tenant", "deal_id", "version", "event_id", "occurred_at", "owner", "account",
                "product", "stage", "status", "amount", "currency", "engaged_on", "closed_on")


class _Raw:
    """The hot path in plain SQL on the driver cursor (SQLite and PostgreSQL).

    Going through the DBAPI's executemany directly, instead of the ORM, is what lets ingest keep
    up with parsing. Values are encoded the way SQLAlchemy's own types store them, so the ORM
    reads these rows back unchanged.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"

    def sql(self, text_: str) -> str:
        return text_.replace("?", "%s") if self.pg else text_

    def _dt(self, t: dt.datetime) -> Any:
        t = _naive_utc(t)
        return t if self.pg else t.isoformat(" ", "microseconds")

    def _date(self, d: dt.date | None) -> Any:
        return d if (self.pg or d is None) else d.isoformat()

    def _many(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        if rows:
            self.conn.exec_driver_sql(self.sql(sql), list(rows))

    def _query(self, sql: str, params: tuple[Any, ...]) -> Sequence[Any]:
        """All rows of a query, fetched on the DBAPI cursor (the same connection and
        transaction) without SQLAlchemy's per-row result processing."""
        cur = self.conn.connection.cursor()
        try:
            cur.execute(self.sql(sql), params)
            return cur.fetchall()
        finally:
            cur.close()

    def seen_event_ids(self, tenant: str, ids: list[str]) -> set[str]:
        seen: set[str] = set()
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i:i + CHUNK]
            q = f"SELECT event_id FROM events WHERE tenant = ? AND event_id IN ({','.join('?' * len(chunk))})"
            seen.update(r[0] for r in self._query(q, (tenant, *chunk)))
        return seen

    def load_deals(self, tenant: str, deal_ids: list[str]) -> dict[str, DealEvent]:
        out: dict[str, DealEvent] = {}
        cols = ", ".join(DEAL_COLUMNS)
        for i in range(0, len(deal_ids), CHUNK):
            chunk = deal_ids[i:i + CHUNK]
            q = f"SELECT {cols} FROM deals WHERE tenant = ? AND deal_id IN ({','.join('?' * len(chunk))})"
            for r in self._query(q, (tenant, *chunk)):
                (t, deal_id, version, event_id, occurred, owner, account, product, stage, status,
                 amount, currency, engaged, closed) = r
                if not self.pg:
                    occurred = dt.datetime.fromisoformat(occurred)
                    engaged = dt.date.fromisoformat(engaged) if engaged else None
                    closed = dt.date.fromisoformat(closed) if closed else None
                out[deal_id] = DealEvent.model_construct(
                    type="deal", event_id=event_id, tenant=t, occurred_at=occurred,
                    deal_id=deal_id, version=version, owner=owner, account=account,
                    product=product, stage=stage, status=status,
                    amount=None if amount is None else Decimal(amount), currency=currency,
                    engaged_on=engaged, closed_on=closed)
        return out

    def insert_events(self, rows: list[tuple[Any, ...]]) -> None:
        self._many("INSERT INTO events (tenant, event_id, type, entity_id, version, payload) "
                   "VALUES (?, ?, ?, ?, ?, ?)", rows)

    def deal_row(self, e: DealEvent) -> tuple[Any, ...]:
        """The ``deals`` row of a snapshot, encoded for this database."""
        return (e.tenant, e.deal_id, e.version, e.event_id, self._dt(e.occurred_at), e.owner,
                e.account, e.product, e.stage, e.status,
                None if e.amount is None else str(e.amount), e.currency,
                self._date(e.engaged_on), self._date(e.closed_on))

    def upsert_deals(self, rows: list[tuple[Any, ...]]) -> None:
        cols = ", ".join(DEAL_COLUMNS)
        sets = ", ".join(f"{c} = excluded.{c}" for c in DEAL_COLUMNS[2:])
        sql = (f"INSERT INTO deals ({cols}) VALUES ({', '.join('?' * len(DEAL_COLUMNS))}) "
               f"ON CONFLICT (tenant, deal_id) DO UPDATE SET {sets}")
        self._many(sql, rows)

    def apply_cell_deltas(self, tenant: str, deltas: Mapping[CellKey, Components]) -> None:
        ids = {cell_id(k): k for k in deltas}
        keys = list(ids)
        existing: dict[CellKey, Components] = {}
        for i in range(0, len(keys), CHUNK):
            chunk = keys[i:i + CHUNK]
            q = (f"SELECT cell, components FROM kpi_cells WHERE tenant = ? "
                 f"AND cell IN ({','.join('?' * len(chunk))})")
            for cid, comps in self._query(q, (tenant, *chunk)):
                existing[ids[cid]] = loads_components(comps)
        rows = []
        for cid, key in ids.items():
            acc = existing.get(key, {})
            for k, v in deltas[key].items():
                acc[k] = acc.get(k, ZERO) + v
            rows.append((tenant, cid, *key, dumps_components(acc)))
        self._many("INSERT INTO kpi_cells (tenant, cell, owner, product, account, quarter, components) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, cell) "
                   "DO UPDATE SET components = excluded.components", rows)


ZERO = Decimal(0)


_PAUSE = object()


def batched(items: Iterable[Any], size: int, linger: float | None = None) -> Iterator[list[Any]]:
    """Lists of at most ``size`` items. With ``linger``, a batch is also closed when no new item
    arrived for ``linger`` seconds (as a Kafka producer's ``linger.ms``): a live pipe is processed
    as it flows instead of waiting for ``size`` items or the end of input."""
    batch: list[Any] = []
    for it in (items if linger is None else _with_pauses(items, linger)):
        if it is _PAUSE:
            if batch:
                yield batch
                batch = []
            continue
        batch.append(it)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _with_pauses(items: Iterable[Any], linger: float) -> Iterator[Any]:
    """``items`` (read on a helper thread), with :data:`_PAUSE` whenever none arrived for
    ``linger`` seconds."""
    q: queue.Queue[Any] = queue.Queue(maxsize=10000)
    end = object()

    def pump() -> None:
        try:
            for it in items:
                q.put(it)
        except BaseException as exc:  # re-raised on the consuming side
            q.put(_Failure(exc))
        finally:
            q.put(end)

    threading.Thread(target=pump, name="attain-read", daemon=True).start()
    while True:
        try:
            it = q.get(timeout=linger)
        except queue.Empty:
            yield _PAUSE
            continue
        if it is end:
            return
        if isinstance(it, _Failure):
            raise it.exc
        yield it


@dataclass
class _Failure:
    exc: BaseException


__all__ = ["Engine", "Record", "Result", "batched", "deal_from_row", "and_"]
