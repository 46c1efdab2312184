"""SQL helpers any module (core or plugin) may use inside its own transaction.

* :func:`upsert` — ``INSERT … ON CONFLICT DO UPDATE`` on SQLite and PostgreSQL, one statement for
  many rows; ``add=`` columns are incremented instead of replaced (counters).
* :func:`lock_tenant` — serialise the writers of one tenant (PostgreSQL advisory lock; SQLite's
  ``BEGIN IMMEDIATE`` already serialises every writer).
* :func:`bump_counters` — add to the tenant's Prometheus-style counters.
* :func:`driver_sql` / :func:`fetch_all` — plain SQL with ``?`` placeholders on the DBAPI cursor,
  for hot paths that cannot afford SQLAlchemy's per-row processing.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, text

from .schema import counters_table


def upsert(conn: Connection, table: Any, rows: Iterable[Mapping[str, Any]], keys: Sequence[str],
           update: Sequence[str] = (), *, add: Sequence[str] = ()) -> None:
    """Insert ``rows`` into ``table`` (a :class:`~sqlalchemy.Table` or an ORM class); a row whose
    ``keys`` exist already updates the ``update`` columns to the new values and adds the new
    values to the ``add`` columns. Nothing happens for no rows."""
    rows = list(rows)
    if not rows:
        return
    t: Table = getattr(table, "__table__", table)
    cache_key = (conn.dialect.name, t, tuple(keys), tuple(update), tuple(add))
    stmt = _UPSERTS.get(cache_key)
    if stmt is None:  # built once per shape: building the construct cost more than running it
        ins: Any = _dialect_insert(conn.dialect.name)(t)
        sets: dict[str, Any] = {c: getattr(ins.excluded, c) for c in update}
        sets.update({c: t.c[c] + getattr(ins.excluded, c) for c in add})
        if sets:
            stmt = ins.on_conflict_do_update(index_elements=list(keys), set_=sets)
        else:
            stmt = ins.on_conflict_do_nothing(index_elements=list(keys))
        _UPSERTS[cache_key] = stmt
    conn.execute(stmt, rows)


#: the upsert statements built so far, by (dialect, table, keys, update, add); statements are
#: immutable, so threads may share them
_UPSERTS: dict[tuple[Any, ...], Any] = {}


def _dialect_insert(name: str) -> Any:
    """The ``insert`` construct with ON CONFLICT of the dialect (imported on first use: a SQLite
    user never imports SQLAlchemy's PostgreSQL dialect, a tenth of a second of start-up)."""
    if name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


def lock_id(tenant: str) -> int:
    """The advisory-lock key of a tenant."""
    return zlib.crc32(f"attain:{tenant}".encode()) & 0x7FFFFFFF


def lock_tenant(conn: Connection, tenant: str) -> None:
    """Serialise writers of one tenant until the transaction ends (PostgreSQL; SQLite's
    BEGIN IMMEDIATE already does)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_id(tenant)})


def bump_counters(conn: Connection, tenant: str, counts: Mapping[str, int]) -> None:
    """Add ``counts`` (counter name → increment) to the tenant's counters."""
    upsert(conn, counters_table, [{"tenant": tenant, "name": k, "value": v} for k, v in counts.items()],
           ("tenant", "name"), add=("value",))


def driver_sql(conn: Connection | Any, sql: str) -> str:
    """``sql`` written with ``?`` placeholders, in the paramstyle of ``conn``'s driver."""
    return sql.replace("?", "%s") if conn.dialect.name == "postgresql" else sql


def fetch_all(conn: Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    """All rows of ``sql`` (``?`` placeholders) as plain tuples, fetched on the DBAPI cursor of
    ``conn`` (its transaction) without SQLAlchemy's per-row result processing."""
    cur = conn.connection.cursor()
    try:
        cur.execute(driver_sql(conn, sql), tuple(params))
        return list(cur.fetchall())
    finally:
        cur.close()


def in_chunks(values: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    """``values`` in slices of at most ``size`` (one ``IN (…)`` query each)."""
    for i in range(0, len(values), size):
        yield values[i:i + size]


def placeholders(n: int) -> str:
    """``?, ?, …`` for ``n`` values."""
    return ", ".join("?" * n)
