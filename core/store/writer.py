"""The batch writer: the engine's hot path in plain SQL on the driver cursor (SQLite and
PostgreSQL), inside the batch's one transaction.

Going through the DBAPI's executemany directly, instead of the ORM, is what lets ingest keep up
with parsing. Values are encoded the way SQLAlchemy's own types store them, so SQLAlchemy's reads of
these rows (``select`` on the tables of :mod:`.schema`) get them back unchanged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import chain
from typing import Any

from sqlalchemy import Connection, insert
from sqlalchemy.exc import DataError, IntegrityError

from ..leadlinks import Link
from ..models import DealEvent
from ..periods import naive_utc
from ..records import Record, storable_payload
from .cells import add_components, dumps_components
from .schema import deadletters_table
from .sql import bump_counters, driver_sql, in_chunks, placeholders

log = logging.getLogger("attain.store")

Components = dict[str, Decimal]
RollKey = tuple[str, str, str, str]  # dim, name, grain, period
ZERO = Decimal(0)

DEAL_COLUMNS = ("tenant", "deal_id", "version", "event_id", "occurred_at", "owner", "account",
                "product", "stage", "status", "amount", "currency", "engaged_on", "closed_on",
                "lead_source")

#: Exceptions a write raises because of what an event holds (an integer the database cannot
#: store, text it cannot encode, a constraint): the engine bisects the batch to find the events.
CONTENT_ERRORS: tuple[type[BaseException], ...] = (DataError, IntegrityError, OverflowError,
                                                   ValueError)


def database_reason(exc: BaseException) -> str:
    """The database's message for a refused event, on one line and without the SQL statement
    or its parameters."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [""])[0]
    return f"cannot be stored: {type(orig).__name__}: {first}"[:1000]




@dataclass
class Plan:
    """What one batch writes for one tenant: event-log rows, new deal snapshots (as rows), KPI
    roll-up deltas, counters, and the inputs it turned away (conflicts) with their reasons."""

    tenant: str
    log_rows: list[tuple[Any, ...]]
    deal_rows: list[tuple[Any, ...]]
    deltas: dict[RollKey, Components]
    counts: dict[str, int]
    conflicts: list[tuple[Record, str]] = field(default_factory=list)
    #: deal id → its new winning converted-lead link (:mod:`attain.core.leadlinks`)
    links: dict[str, Link] = field(default_factory=dict)


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
    """Store dead-letter rows and count them (``attain_events_total{outcome=…}``)."""
    if rows:
        conn.execute(insert(deadletters_table), rows)
        bump_counters(conn, tenant, {f'attain_events_total{{outcome="{outcome}"}}': len(rows)})


#: roll-up keys read per query (4 parameters each: well under every driver's limit)
ROLLUP_KEYS_PER_QUERY = 250
#: parameters per multi-row statement on SQLite (its limit is 32,766 since 3.32)
SQLITE_VARIABLES = 4000
_ONE_ROW = re.compile(r"VALUES (\(\?(?:, \?)*\))")


class BatchWriter:
    """Reads and writes of one batch on one connection (the batch's transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"

    def _dt(self, t: dt.datetime) -> Any:
        t = naive_utc(t)
        return t if self.pg else t.isoformat(" ", "microseconds")

    def _date(self, d: dt.date | None) -> Any:
        return d if (self.pg or d is None) else d.isoformat()

    def _many(self, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
        """Run ``sql`` (one ``VALUES (?, …)`` row) for every row of ``rows``.

        On SQLite as multi-row ``VALUES`` statements: the driver releases and retakes the GIL
        around every step, and ``executemany`` steps once per row, so a stream worker's batch
        writing 300 roll-up rows waited 300 times for the GIL while its other threads (the
        event loop, the KPI round) held it; measured, the batch's wall time was 3-6 times its
        CPU time. One statement per chunk steps once. The rows are applied in order, as
        ``executemany`` applies them (a later row's upsert sees an earlier one's)."""
        if not rows:
            return
        if self.pg:
            self.conn.exec_driver_sql(driver_sql(self.conn, sql), list(rows))
            return
        m = _ONE_ROW.search(sql)
        if m is None:  # pragma: no cover - every caller writes one VALUES row
            raise ValueError(f"not a one-row VALUES statement: {sql}")
        group = m.group(1)
        per = max(1, SQLITE_VARIABLES // group.count("?"))
        for i in range(0, len(rows), per):
            chunk = rows[i:i + per]
            q = sql[:m.start(1)] + ", ".join([group] * len(chunk)) + sql[m.end(1):]
            self.conn.exec_driver_sql(q, tuple(chain.from_iterable(chunk)))

    def _query(self, sql: str, params: tuple[Any, ...]) -> Sequence[Any]:
        cur = self.conn.connection.cursor()
        try:
            cur.execute(driver_sql(self.conn, sql), params)
            return cur.fetchall()
        finally:
            cur.close()

    # -- reads inside the batch ----------------------------------------------------------------

    def stored_payloads(self, tenant: str, ids: list[str]) -> dict[str, str]:
        """Event id → stored payload, for the ids of ``ids`` that are in the event log."""
        seen: dict[str, str] = {}
        for chunk in in_chunks(ids):
            q = (f"SELECT event_id, payload FROM events WHERE tenant = ? "
                 f"AND event_id IN ({placeholders(len(chunk))})")
            seen.update((r[0], r[1]) for r in self._query(q, (tenant, *chunk)))
        return seen

    def load_deals(self, tenant: str, deal_ids: list[str]) -> dict[str, DealEvent]:
        """The stored latest snapshots of ``deal_ids`` (those that exist)."""
        out: dict[str, DealEvent] = {}
        cols = ", ".join(DEAL_COLUMNS)
        for chunk in in_chunks(deal_ids):
            q = f"SELECT {cols} FROM deals WHERE tenant = ? AND deal_id IN ({placeholders(len(chunk))})"
            for r in self._query(q, (tenant, *chunk)):
                (t, deal_id, version, event_id, occurred, owner, account, product, stage, status,
                 amount, currency, engaged, closed, lead_source) = r
                if not self.pg:
                    occurred = dt.datetime.fromisoformat(occurred)
                    engaged = dt.date.fromisoformat(engaged) if engaged else None
                    closed = dt.date.fromisoformat(closed) if closed else None
                out[deal_id] = DealEvent.model_construct(
                    type="deal", event_id=event_id, tenant=t, occurred_at=occurred,
                    deal_id=deal_id, version=version, owner=owner, account=account,
                    product=product, stage=stage, status=status,
                    amount=None if amount is None else Decimal(amount), currency=currency,
                    engaged_on=engaged, closed_on=closed, lead_source=lead_source)
        return out

    def has_links(self, tenant: str) -> bool:
        """Whether the tenant has any converted-lead link (most tenants without leads have none:
        the batch then looks none up)."""
        return bool(self._query("SELECT 1 FROM deal_lead_links WHERE tenant = ? LIMIT 1", (tenant,)))

    def load_links(self, tenant: str, deal_ids: list[str]) -> dict[str, Link]:
        """The stored converted-lead links of ``deal_ids`` (those that have one)."""
        out: dict[str, Link] = {}
        for chunk in in_chunks(deal_ids):
            q = (f"SELECT deal_id, occurred_at, event_id, source FROM deal_lead_links "
                 f"WHERE tenant = ? AND deal_id IN ({placeholders(len(chunk))})")
            for deal_id, occurred, event_id, source in self._query(q, (tenant, *chunk)):
                if not self.pg:
                    occurred = dt.datetime.fromisoformat(occurred)
                out[deal_id] = (occurred, event_id, source)
        return out

    # -- writes --------------------------------------------------------------------------------

    def upsert_links(self, tenant: str, links: Mapping[str, Link]) -> None:
        rows = [(tenant, d, self._dt(at), eid, src) for d, (at, eid, src) in links.items()]
        self._many("INSERT INTO deal_lead_links (tenant, deal_id, occurred_at, event_id, source) "
                   "VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, deal_id) DO UPDATE SET "
                   "occurred_at = excluded.occurred_at, event_id = excluded.event_id, "
                   "source = excluded.source", rows)

    def deal_row(self, e: DealEvent) -> tuple[Any, ...]:
        """The ``deals`` row of a snapshot, encoded for this database."""
        return (e.tenant, e.deal_id, e.version, e.event_id, self._dt(e.occurred_at), e.owner,
                e.account, e.product, e.stage, e.status,
                None if e.amount is None else str(e.amount), e.currency,
                self._date(e.engaged_on), self._date(e.closed_on), e.lead_source)

    def insert_events(self, rows: list[tuple[Any, ...]]) -> None:
        self._many("INSERT INTO events (tenant, event_id, type, entity_id, version, payload) "
                   "VALUES (?, ?, ?, ?, ?, ?)", rows)

    def upsert_deals(self, rows: list[tuple[Any, ...]]) -> None:
        cols = ", ".join(DEAL_COLUMNS)
        sets = ", ".join(f"{c} = excluded.{c}" for c in DEAL_COLUMNS[2:])
        sql = (f"INSERT INTO deals ({cols}) VALUES ({placeholders(len(DEAL_COLUMNS))}) "
               f"ON CONFLICT (tenant, deal_id) DO UPDATE SET {sets}")
        self._many(sql, rows)

    def apply_rollup_deltas(self, tenant: str, deltas: Mapping[RollKey, Components]) -> None:
        """Add ``deltas`` to the stored components of their roll-up rows: the stored rows read
        by their exact keys (a ``VALUES`` list joined on the primary key, so no row the batch
        does not touch is read), the merge in Python, one upsert of every touched row."""
        existing: dict[RollKey, str] = {}
        keys = list(deltas)
        cols = "r.dim, r.name, r.grain, r.period, r.components"
        # SQLite: one result row (one step, see _many), the rows as a JSON array
        selected = cols if self.pg else f"json_group_array(json_array({cols}))"
        for chunk in in_chunks(keys, ROLLUP_KEYS_PER_QUERY):
            q = (f"WITH k(dim, grain, period, name) AS (VALUES {', '.join(['(?, ?, ?, ?)'] * len(chunk))}) "
                 f"SELECT {selected} FROM k JOIN kpi_rollups r "
                 "ON r.tenant = ? AND r.dim = k.dim AND r.grain = k.grain AND r.period = k.period "
                 "AND r.name = k.name")
            params = (*[v for dim, name, grain, period in chunk for v in (dim, grain, period, name)],
                      tenant)
            found: Iterable[Sequence[str]] = (self._query(q, params) if self.pg
                                              else json.loads(self._query(q, params)[0][0]))
            for dim, name, grain, period, comps in found:
                existing[(dim, name, grain, period)] = comps
        rows = []
        for key, delta in deltas.items():
            stored = existing.get(key)
            text = dumps_components(delta) if stored is None else add_components(stored, delta)
            rows.append((tenant, key[0], key[2], key[3], key[1], text))
        self._many("INSERT INTO kpi_rollups (tenant, dim, grain, period, name, components) "
                   "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, dim, grain, period, name) "
                   "DO UPDATE SET components = excluded.components", rows)

    def write_plan(self, plan: Plan) -> None:
        """Write a plan inside the batch's transaction (the one it was planned in)."""
        self.insert_events(plan.log_rows)
        self.upsert_deals(plan.deal_rows)
        if plan.links:
            self.upsert_links(plan.tenant, plan.links)
        if plan.deltas:
            self.apply_rollup_deltas(plan.tenant, plan.deltas)
        bump_counters(self.conn, plan.tenant, plan.counts)
        if plan.conflicts:
            write_dead_letters(self.conn, plan.tenant, dead_letter_rows(plan.tenant, plan.conflicts),
                               outcome="conflict")
