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
from sqlalchemy.exc import DataError, IntegrityError

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
    parse_event,
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

    ``reason``: the input is already known to be invalid (a connector found a truncated row, a
    conflict in its source): it is dead-lettered with that reason, unvalidated.
    """

    __slots__ = ("payload", "_source", "line", "_numbered", "reason")

    def __init__(self, payload: str | bytes | Mapping[str, Any] | AnyEvent, source: str = "",
                 line: int | None = None, *, numbered: bool = False,
                 reason: str | None = None) -> None:
        self.payload = payload
        self._source = source
        self.line = line
        self._numbered = numbered
        self.reason = reason

    @property
    def source(self) -> str:
        return f"{self._source}:{self.line}" if self._numbered else self._source

    def __repr__(self) -> str:
        why = "" if self.reason is None else f", reason={self.reason!r}"
        return f"Record({self.payload!r}, source={self.source!r}, line={self.line!r}{why})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Record) and (self.payload, self.source, self.line, self.reason)
                == (other.payload, other.source, other.line, other.reason))

    __hash__ = None  # type: ignore[assignment]


@dataclass
class Result:
    """What a batch did with its inputs. Every input is counted exactly once:
    ``accepted + duplicates + stale + conflicts + rejected`` = inputs.

    * ``duplicates``: the event id was seen before with the same content (ignored);
    * ``stale``: a deal event whose version is not newer than the stored one (ignored);
    * ``conflicts``: the event id was seen before with *different* content: the first event is
      kept, this one is dead-lettered (reason "event_id reused with different content");
    * ``rejected``: invalid input, dead-lettered with the reason.
    """

    accepted: int = 0
    duplicates: int = 0
    stale: int = 0
    conflicts: int = 0
    rejected: int = 0
    changed_cells: set[tuple[str, CellKey]] = field(default_factory=set)

    def add(self, other: Result) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.stale += other.stale
        self.conflicts += other.conflicts
        self.rejected += other.rejected
        self.changed_cells |= other.changed_cells

    @property
    def total(self) -> int:
        return self.accepted + self.duplicates + self.stale + self.conflicts + self.rejected

    def summary(self) -> str:
        return (
            f"accepted {self.accepted}, duplicates {self.duplicates}, "
            f"stale {self.stale}, conflicts {self.conflicts}, rejected {self.rejected}"
        )

    def as_dict(self) -> dict[str, int]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "stale": self.stale,
            "conflicts": self.conflicts,
            "rejected": self.rejected,
        }


CONFLICT_REASON = "event_id reused with different content (the first event with this id is kept)"


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
    try:
        if hasattr(payload, "model_dump_json"):
            try:
                return str(payload.model_dump_json())
            except ValueError:  # text JSON cannot encode (a lone surrogate): escape it
                return json.dumps(payload.model_dump(mode="python"), default=str)
        return json.dumps(payload, default=str)
    except (TypeError, ValueError):
        return repr(payload)


def storable_payload(payload: Any) -> tuple[str, bytes | None]:
    """A rejected input as (text, original bytes or None): the text is what any database can
    hold (valid UTF-8, no NUL); when that text is not exactly the input, the bytes are kept."""
    if isinstance(payload, bytes):
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            return payload.decode("utf-8", "replace"), payload
        raw: bytes | None = payload
    else:
        text = _payload_text(payload)
        raw = None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a connector's dict
        return (text.encode("utf-8", "replace").decode("utf-8"),
                text.encode("utf-8", "surrogatepass"))
    if "\x00" in text:
        return text.replace("\x00", "\ufffd"), raw if raw is not None else text.encode("utf-8")
    return text, None


def same_content(first: str | AnyEvent, payload: str | None, event: AnyEvent) -> bool:
    """Whether ``event`` (received as ``payload`` text, if it was text) says the same as the
    first event with its id: ``first`` is that event, or its stored payload. The same text is
    the same event; otherwise the validated fields are compared (so ``"1054.00"`` equals
    ``1054`` and key order or spacing do not matter), the tenant aside (ids are per tenant)."""
    if isinstance(first, str):
        if first == payload:
            return True
        try:
            first = parse_event(first)
        except ValidationError:  # stored under an older model: compare as text only
            return False
    if type(first) is not type(event):
        return False
    a, b = dict(first.__dict__), dict(event.__dict__)
    a.pop("tenant", None)
    b.pop("tenant", None)
    return a == b


def has_nul(event: AnyEvent) -> bool:
    """Whether a text field of ``event`` holds a NUL character (PostgreSQL cannot store it)."""
    return any(isinstance(v, str) and "\x00" in v for v in event.__dict__.values())


#: Exceptions a write raises because of what an event holds (an integer the database cannot
#: store, text it cannot encode, a constraint): the batch is bisected to find the events.
CONTENT_ERRORS: tuple[type[BaseException], ...] = (DataError, IntegrityError, OverflowError,
                                                   ValueError)


def database_reason(exc: BaseException) -> str:
    """The database's message for a refused event, on one line and without the SQL statement
    or its parameters."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [""])[0]
    return f"cannot be stored: {type(orig).__name__}: {first}"[:1000]


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
    cell deltas, counters, and the inputs it turned away (conflicts) with their reasons."""

    tenant: str
    log_rows: list[tuple[Any, ...]]
    deal_rows: list[tuple[Any, ...]]
    deltas: dict[CellKey, Components]
    counts: dict[str, int]
    conflicts: list[tuple[Record, str]] = field(default_factory=list)


@dataclass
class Written:
    """What a batch's transaction committed: its result, every valid event's outcome per tenant
    (for the post-commit hooks) and the inputs dead-lettered inside it, per tenant."""

    result: Result = field(default_factory=Result)
    outcomes: dict[str, list[tuple[AnyEvent, str]]] = field(default_factory=dict)
    refused: list[tuple[str, Record, str]] = field(default_factory=list)


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


def dead_letter_rows(tenant: str, refused: Iterable[tuple[Record, str]]) -> list[dict[str, Any]]:
    """Dead-letter rows of ``refused`` (record, reason) pairs, storable by any database."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = []
    for rec, reason in refused:
        log.debug("dead letter %s: %s", rec.source, reason)
        text_, raw = storable_payload(rec.payload)
        rows.append({"tenant": tenant, "source": rec.source[:500], "line": rec.line,
                     "reason": reason, "payload": text_, "raw": raw, "created_at": now})
    return rows


def write_dead_letters(conn: Connection, tenant: str, rows: list[dict[str, Any]],
                       outcome: str = "rejected") -> None:
    if rows:
        conn.execute(insert(DeadLetterRow), rows)
        bump_counters(conn, tenant, {f'attain_events_total{{outcome="{outcome}"}}': len(rows)})


def write_plan(conn: Connection, plan: Plan) -> None:
    """Write a plan inside the caller's transaction (the one it was planned in)."""
    raw = _Raw(conn)
    raw.insert_events(plan.log_rows)
    raw.upsert_deals(plan.deal_rows)
    if plan.deltas:
        raw.apply_cell_deltas(plan.tenant, plan.deltas)
    bump_counters(conn, plan.tenant, plan.counts)
    if plan.conflicts:
        write_dead_letters(conn, plan.tenant, dead_letter_rows(plan.tenant, plan.conflicts),
                           outcome="conflict")


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
            if rec.reason is not None:
                bad.append((rec, rec.reason))
                continue
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
            if (b"\\u0000" in p if isinstance(p, bytes) else "\\u0000" in p if isinstance(p, str)
                    else True) and has_nul(ev):
                bad.append((rec, "text fields must not contain the NUL character (\\u0000)"))
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
        dead = dead_letter_rows(prep.dl_tenant, prep.bad) if prep.bad else []
        try:
            written = self._transaction(prep, dead, in_transaction, isolate=False)
        except CONTENT_ERRORS as exc:
            # A deal event newer than its deal's stored version may reuse the id of a stored
            # event (_plan does not look those ids up), or an event holds what the database
            # refuses: redo the batch looking every id up, isolating such events.
            log.info("the batch's write failed (%s); writing it again part by part",
                     database_reason(exc))
            written = self._transaction(prep, dead, in_transaction, isolate=True)
        self._finish(prep, written)
        return written.result

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
        with self.store.engine.connect().execution_options(write_lock=True) as conn:
            with conn.begin():
                raw = _Raw(conn)
                for t, items in prep.by_tenant.items():
                    lock_tenant(conn, t)
                    self._ensure_signature(conn, t)
                    outs = w.outcomes.setdefault(t, [])
                    if isolate:
                        refused = self._write_isolating(conn, raw, t, items, w, outs)
                        if refused:
                            write_dead_letters(conn, t, dead_letter_rows(t, refused))
                            w.result.rejected += len(refused)
                            w.refused += [(t, rec, reason) for rec, reason in refused]
                    else:
                        plan, res, o = self._plan(raw, t, items, check_all_ids=False)
                        write_plan(conn, plan)
                        w.result.add(res)
                        outs += o
                        w.refused += [(t, rec, reason) for rec, reason in plan.conflicts]
                if dead:
                    write_dead_letters(conn, prep.dl_tenant, dead)
                    w.result.rejected += len(dead)
                if in_transaction is not None:
                    in_transaction(conn)
        return w

    def _write_isolating(self, conn: Connection, raw: _Raw, tenant: str,
                         items: Sequence[tuple[Record, AnyEvent]], w: Written,
                         outs: list[tuple[AnyEvent, str]]) -> list[tuple[Record, str]]:
        """Write ``items`` in savepoints, halving parts whose write fails for a reason tied to
        their content; returns the refused records with the database's reason."""
        refused: list[tuple[Record, str]] = []
        parts: list[Sequence[tuple[Record, AnyEvent]]] = [items]
        while parts:
            part = parts.pop(0)
            savepoint = conn.begin_nested()
            try:
                plan, res, o = self._plan(raw, tenant, part, check_all_ids=True)
                write_plan(conn, plan)
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
            w.result.add(res)
            outs += o
            w.refused += [(tenant, rec, reason) for rec, reason in plan.conflicts]
        return refused

    def _finish(self, prep: Prepared, written: Written) -> None:
        """After the batch committed: the post-commit hooks and the plugin failures it caused."""
        outcomes = written.outcomes
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
        if self.plugins.has_impls("attain_event_rejected"):
            refused = [(prep.dl_tenant, rec, reason) for rec, reason in prep.bad] + written.refused
            for t, rec, reason in refused:
                self.plugins.call("attain_event_rejected", self.disabled(t), tenant=t,
                                  reason=reason, payload=_payload_text(rec.payload),
                                  source=rec.source)
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
        # event id → the stored payload, or (for an id first seen in this batch) its event
        seen: dict[str, str | AnyEvent] = (
            raw.stored_payloads(tenant, list(lookup)) if lookup else {})  # type: ignore[assignment]

        current: dict[str, DealEvent] = dict(stored)
        facts: list[AnyEvent] = []
        log_rows: list[tuple[Any, ...]] = []
        outs: list[tuple[AnyEvent, str]] = []
        conflicts: list[tuple[Record, str]] = []
        accepted = stale = duplicates = 0
        for rec, ev in items:
            eid = ev.event_id
            p = rec.payload
            payload = p.decode() if type(p) is bytes else p if isinstance(p, str) else None
            first = seen.get(eid)
            if first is not None:
                if same_content(first, payload, ev):
                    duplicates += 1
                    outs.append((ev, "duplicate"))
                else:
                    conflicts.append((rec, CONFLICT_REASON))
                continue
            seen[eid] = ev
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
            log_rows.append((tenant, eid, ev.type, entity, version,
                             ev.model_dump_json() if payload is None else payload))
        res.accepted, res.stale, res.duplicates = accepted, stale, duplicates
        res.conflicts = len(conflicts)

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
                    deltas=deltas, counts={k: v for k, v in counts.items() if v},
                    conflicts=conflicts)
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

    def stored_payloads(self, tenant: str, ids: list[str]) -> dict[str, str]:
        """Event id → stored payload, for the ids of ``ids`` that are in the event log."""
        seen: dict[str, str] = {}
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i:i + CHUNK]
            q = (f"SELECT event_id, payload FROM events WHERE tenant = ? "
                 f"AND event_id IN ({','.join('?' * len(chunk))})")
            seen.update((r[0], r[1]) for r in self._query(q, (tenant, *chunk)))
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
