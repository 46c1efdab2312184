"""Tenant-scoped reads of the stored state: deal snapshots, the event log, reference data and
KPI cells. Every function takes the tenant; none returns another tenant's rows."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, Date, String, delete, insert, select, text

from ..models import EVENT_ADAPTER, Account, AnyEvent, DealEvent, Product, Rep
from ..validation import explain_validation
from .cells import dumps_components, loads_components
from .schema import (
    accounts_table,
    deal_lead_links_table,
    deals_table,
    events_table,
    kpi_rollups_table,
    meta_table,
    products_table,
    reps_table,
)
from .sql import fetch_all, in_chunks, placeholders, upsert

log = logging.getLogger("attain.store")

Components = dict[str, Any]


def deal_from_row(r: Any) -> DealEvent:
    """A ``deals`` row as the snapshot it stores; a row read with its link (``linked_source``,
    see :func:`read_snapshots`) has the link's source as ``lead_source`` when it has none."""
    return DealEvent.model_construct(
        type="deal", event_id=r.event_id, tenant=r.tenant, occurred_at=r.occurred_at,
        deal_id=r.deal_id, version=r.version, owner=r.owner, account=r.account,
        product=r.product, stage=r.stage, status=r.status, amount=r.amount,
        currency=r.currency, engaged_on=r.engaged_on, closed_on=r.closed_on,
        lead_source=r.lead_source or getattr(r, "linked_source", None),
    )


def _snapshots_query(tenant: str) -> Any:
    """The tenant's deal rows with their converted-lead link's source (``linked_source``)."""
    link = deal_lead_links_table
    deals = deals_table
    return (select(*deals.c, link.c.source.label("linked_source"))
            .select_from(deals.outerjoin(link, (link.c.tenant == deals.c.tenant)
                                         & (link.c.deal_id == deals.c.deal_id)))
            .where(deals.c.tenant == tenant))


def read_snapshots(conn: Connection, tenant: str, deal_ids: Iterable[str] | None = None,
                   closed: tuple[dt.date, dt.date] | None = None) -> Iterator[DealEvent]:
    """The latest stored snapshot of every deal of ``tenant`` (or of the ``deal_ids`` that exist),
    in deal-id order; with ``closed``, only the deals whose closed_on is in that range (both days
    included).

    A deal without a ``lead_source`` of its own has its converted lead's source
    (:mod:`attain.core.leadlinks`), as every KPI sees it."""
    deals = deals_table
    if deal_ids is None:
        q = _snapshots_query(tenant)
        if closed is not None:
            q = q.where(deals.c.closed_on >= closed[0], deals.c.closed_on <= closed[1])
        # in deal-id order (the primary key's), whatever index the database picks
        for r in conn.execute(q.order_by(deals.c.deal_id)):
            yield deal_from_row(r)
        return
    for chunk in in_chunks(sorted(set(deal_ids))):
        for r in conn.execute(_snapshots_query(tenant).where(deals.c.deal_id.in_(chunk))):
            yield deal_from_row(r)


def first_won_days(conn: Connection, tenant: str) -> dict[str, dt.date]:
    """Each account's earliest ``closed_on`` over the tenant's won deals (latest snapshots).

    A loose index scan of ``ix_deals_tenant_status_account`` (a recursive query stepping from one
    account to the next, then the first day of each): a few index seeks per account, whatever
    the number of deals."""
    q = text("""
        WITH RECURSIVE acc(account) AS (
            SELECT min(account) FROM deals
             WHERE tenant = :t AND status = 'won' AND account > '' AND closed_on IS NOT NULL
            UNION ALL
            SELECT (SELECT min(d.account) FROM deals d
                     WHERE d.tenant = :t AND d.status = 'won' AND d.account > acc.account
                       AND d.closed_on IS NOT NULL)
              FROM acc WHERE acc.account IS NOT NULL
        )
        SELECT account, (SELECT min(d.closed_on) FROM deals d
                          WHERE d.tenant = :t AND d.status = 'won' AND d.account = acc.account
                            AND d.closed_on IS NOT NULL) AS day
          FROM acc WHERE account IS NOT NULL""").columns(account=String(), day=Date())
    return {a: d for a, d in conn.execute(q, {"t": tenant})}


def read_events(conn: Connection, tenant: str, *, types: Iterable[str] | None = None,
                entity_ids: Iterable[str] | None = None, contains: str | None = None,
                after: int | None = None) -> Iterator[tuple[int, AnyEvent]]:
    """``(position, event)`` of the tenant's event log in arrival order (see
    :meth:`attain.core.engine.Engine.events` for the filters); ``after``: only positions above."""
    t = events_table
    base = select(t.c.id, t.c.payload).where(t.c.tenant == tenant)
    if types is not None:
        base = base.where(t.c.type.in_(sorted(set(types))))
    if contains is not None:
        base = base.where(t.c.payload.contains(contains, autoescape=True))
    if after is not None:
        base = base.where(t.c.id > after)
    queries = ([base] if entity_ids is None else
               [base.where(t.c.entity_id.in_(c)) for c in in_chunks(sorted(set(entity_ids)))])
    rows: list[tuple[int, str]] = []
    for q in queries:
        if entity_ids is None:
            for pos, payload in conn.execute(q.order_by(t.c.id)):
                ev = _parse(tenant, payload)
                if ev is not None:
                    yield pos, ev
            return
        rows += [(r[0], r[1]) for r in conn.execute(q)]
    for pos, payload in sorted(rows):
        ev = _parse(tenant, payload)
        if ev is not None:
            yield pos, ev


def _parse(tenant: str, payload: str) -> AnyEvent | None:
    try:
        ev = EVENT_ADAPTER.validate_json(payload)
    except ValidationError as exc:  # accepted once; only a changed model gets here
        log.warning("stored %s event skipped: %s", tenant, explain_validation(exc))
        return None
    if ev.tenant != tenant:  # stored as received; the tenant may have come from outside
        ev = ev.model_copy(update={"tenant": tenant})
    return ev


def read_tail(conn: Connection, tenant: str, after: int, types: Iterable[str] | None = None,
              known: Mapping[str, AnyEvent] | None = None) -> tuple[int, list[AnyEvent]]:
    """The tenant's events stored after position ``after`` (in arrival order) and the position
    of the newest; ``known`` (event id → event) are used as they are instead of parsed."""
    t = events_table
    q = select(t.c.id, t.c.event_id, t.c.payload).where(t.c.tenant == tenant, t.c.id > after)
    if types is not None:
        q = q.where(t.c.type.in_(sorted(set(types))))
    known = known or {}
    out: list[AnyEvent] = []
    position = after
    for pos, eid, payload in conn.execute(q.order_by(t.c.id)):
        position = pos
        ev = known.get(eid)
        if ev is None:
            ev = _parse(tenant, payload)
        if ev is not None:
            out.append(ev)
    return position, out


def log_position(conn: Connection, tenant: str) -> int:
    """The position of the tenant's newest stored event (0 for none)."""
    t = events_table
    return int(conn.execute(select(t.c.id).where(t.c.tenant == tenant)
                            .order_by(t.c.id.desc()).limit(1)).scalar() or 0)


def read_dimensions(conn: Connection, tenant: str) -> tuple[dict[str, Rep], dict[str, Account],
                                                            dict[str, Product]]:
    r_, a_, p_ = reps_table, accounts_table, products_table
    reps = {r.name: Rep(name=r.name, manager=r.manager, region=r.region)
            for r in conn.execute(select(r_).where(r_.c.tenant == tenant))}
    accounts = {a.name: Account(name=a.name, sector=a.sector, parent=a.parent)
                for a in conn.execute(select(a_).where(a_.c.tenant == tenant))}
    products = {p.name: Product(name=p.name, series=p.series, list_price=p.list_price)
                for p in conn.execute(select(p_).where(p_.c.tenant == tenant))}
    return reps, accounts, products


def save_dimensions(conn: Connection, tenant: str, reps: Iterable[Rep] = (),
                    accounts: Iterable[Account] = (), products: Iterable[Product] = ()) -> None:
    upsert(conn, reps_table, [{"tenant": tenant, **r.model_dump()} for r in reps],
           ("tenant", "name"), ("manager", "region"))
    upsert(conn, accounts_table, [{"tenant": tenant, **a.model_dump()} for a in accounts],
           ("tenant", "name"), ("sector", "parent"))
    upsert(conn, products_table, [{"tenant": tenant, **p.model_dump()} for p in products],
           ("tenant", "name"), ("series", "list_price"))


def read_rollups(conn: Connection, tenant: str, dim: str, grain: str,
                 periods: Sequence[str] | None = None, names: Sequence[str] | None = None,
                 ) -> list[tuple[str, str, str, Components]]:
    """``(name, grain, period, components)`` of the tenant's roll-up rows of ``dim`` and
    ``grain``, of ``periods`` (all when None) and ``names`` (all when None); a range scan of the
    primary key. Rows whose components are all zero are left out."""
    base = "SELECT name, period, components FROM kpi_rollups WHERE tenant = ? AND dim = ? AND grain = ?"
    out: list[tuple[str, str, str, Components]] = []
    pchunks: Iterable[Sequence[str] | None] = [None] if periods is None else in_chunks(list(periods), 400)
    for pchunk in pchunks:
        nchunks: Iterable[Sequence[str] | None] = [None] if names is None else in_chunks(list(names), 400)
        for nchunk in nchunks:
            q, params = base, [tenant, dim, grain]
            if pchunk is not None:
                q += f" AND period IN ({placeholders(len(pchunk))})"
                params += pchunk
            if nchunk is not None:
                q += f" AND name IN ({placeholders(len(nchunk))})"
                params += nchunk
            for name, period, comps in fetch_all(conn, q, params):
                if comps != "{}":
                    out.append((name, grain, period, loads_components(comps)))
    return out


def replace_rollups(conn: Connection, tenant: str, rollups: Mapping[tuple[str, str, str, str], Components]
                    ) -> None:
    """Replace every stored KPI roll-up row of ``tenant`` (a rebuild)."""
    conn.execute(delete(kpi_rollups_table).where(kpi_rollups_table.c.tenant == tenant))
    rows = [{"tenant": tenant, "dim": d, "name": n, "grain": g, "period": p,
             "components": dumps_components(v)} for (d, n, g, p), v in rollups.items()]
    for i in range(0, len(rows), 20000):
        conn.execute(insert(kpi_rollups_table), rows[i:i + 20000])


def has_data(conn: Connection, tenant: str) -> bool:
    """Whether the tenant has any stored event."""
    t = events_table
    return conn.execute(select(t.c.id).where(t.c.tenant == tenant).limit(1)).first() is not None


def get_meta(conn: Connection, tenant: str, key: str) -> str | None:
    """The tenant's meta value ``key`` (None when unset). Plain SQL on the DBAPI cursor: a batch
    reads three of them, and building the SQLAlchemy select cost more than the query."""
    rows = fetch_all(conn, "SELECT value FROM meta WHERE tenant = ? AND key = ?", (tenant, key))
    return rows[0][0] if rows else None


def set_meta(conn: Connection, tenant: str, key: str, value: str) -> None:
    upsert(conn, meta_table, [{"tenant": tenant, "key": key, "value": value}], ("tenant", "key"),
           ("value",))


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
