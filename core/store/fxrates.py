"""A tenant's reporting currency and exchange rates (tenant-scoped reads and writes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import Connection, select

from ..fx import DEFAULT_CURRENCY, Rates
from .reads import get_meta, set_meta
from .schema import fx_rates_table
from .sql import upsert

REPORTING_KEY = "reporting_currency"
GENERATION_KEY = "fx_generation"


def reporting_currency(conn: Connection, tenant: str) -> str:
    return get_meta(conn, tenant, REPORTING_KEY) or DEFAULT_CURRENCY


def generation(conn: Connection, tenant: str) -> str:
    """The digest of the tenant's currency and rates ("" while it has neither)."""
    return get_meta(conn, tenant, GENERATION_KEY) or ""


def read_rates(conn: Connection, tenant: str) -> Rates:
    t = fx_rates_table
    rows = conn.execute(select(t.c.currency, t.c.day, t.c.rate).where(t.c.tenant == tenant))
    return Rates.of(reporting_currency(conn, tenant), ((c, d, r) for c, d, r in rows))


def save_rates(conn: Connection, tenant: str, rows: Iterable[tuple[str, dt.date, Decimal]],
               reporting: str | None = None) -> Rates:
    """Add or replace rates (and set the reporting currency); returns the tenant's rates."""
    upsert(conn, fx_rates_table, [{"tenant": tenant, "currency": c, "day": d, "rate": r} for c, d, r in rows],
           ("tenant", "currency", "day"), ("rate",))
    if reporting is not None:
        set_meta(conn, tenant, REPORTING_KEY, reporting)
    rates = read_rates(conn, tenant)
    set_meta(conn, tenant, GENERATION_KEY, rates.generation())
    return rates


__all__ = ["generation", "read_rates", "reporting_currency", "save_rates"]
