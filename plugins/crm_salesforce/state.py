"""The sync's own tables (prefixed ``salesforce_``), created on the store's database at first use.

* ``salesforce_sync_marks``: the high-water mark per tenant and object: the ``SystemModstamp`` of
  the last record whose events are committed. It is written in the same transaction as those
  events (``Engine.process(..., in_transaction=…)``), or after Kafka acknowledged them
  (``--publish``), and it never moves back (a ``--full`` run re-reads from the start without
  lowering it).
* ``salesforce_sent_facts``: the ids of the lead and activity events already sent. A fact is
  sent once: a record read again (the lookback window, ``--full``, a lead edited later) does not
  send its facts again, so their time and content stay those of the first sight.

Every read and write is scoped by tenant.
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from collections.abc import Iterable
from typing import Any

from sqlalchemy import DateTime, String, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

CHUNK = 500


class SalesforceBase(DeclarativeBase):
    pass


class SyncMarkRow(SalesforceBase):
    __tablename__ = "salesforce_sync_marks"

    tenant: Mapped[str] = mapped_column(String(100), primary_key=True)
    sobject: Mapped[str] = mapped_column(String(100), primary_key=True)
    mark: Mapped[str] = mapped_column(String(40))  # ISO-8601 UTC with milliseconds (exact)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class SentFactRow(SalesforceBase):
    __tablename__ = "salesforce_sent_facts"

    tenant: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)


_ready: weakref.WeakSet[Engine] = weakref.WeakSet()
_lock = threading.Lock()


def ensure_tables(engine: Engine) -> None:
    """Create the tables on first use (idempotent, once per engine)."""
    with _lock:
        if engine in _ready:
            return
        SalesforceBase.metadata.create_all(engine)
        _ready.add(engine)


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def marks(engine: Engine, tenant: str) -> dict[str, dt.datetime]:
    """The high-water mark of every object of ``tenant`` that has one."""
    ensure_tables(engine)
    with engine.connect() as conn:
        return {o: _parse(m) for o, m in conn.execute(
            select(SyncMarkRow.sobject, SyncMarkRow.mark).where(SyncMarkRow.tenant == tenant))}


def save_mark(conn: Connection, tenant: str, sobject: str, mark: dt.datetime) -> None:
    """Move the mark of ``sobject`` to ``mark`` (inside the caller's transaction); never back."""
    current = conn.execute(select(SyncMarkRow.mark).where(
        SyncMarkRow.tenant == tenant, SyncMarkRow.sobject == sobject)).scalar()
    if current is not None and _parse(current) >= mark:
        return
    row = {"tenant": tenant, "sobject": sobject, "mark": _iso(mark),
           "updated_at": dt.datetime.now(dt.UTC).replace(tzinfo=None)}
    t: Any = SyncMarkRow.__table__
    ins: Any = postgresql.insert(t) if conn.dialect.name == "postgresql" else sqlite.insert(t)
    conn.execute(ins.on_conflict_do_update(index_elements=["tenant", "sobject"],
                                           set_={"mark": ins.excluded.mark,
                                                 "updated_at": ins.excluded.updated_at}), [row])


def sent_facts(engine: Engine, tenant: str, event_ids: Iterable[str]) -> set[str]:
    """Which of ``event_ids`` were already sent for ``tenant``."""
    ensure_tables(engine)
    ids = list(dict.fromkeys(event_ids))
    out: set[str] = set()
    with engine.connect() as conn:
        for i in range(0, len(ids), CHUNK):
            out.update(conn.scalars(select(SentFactRow.event_id).where(
                SentFactRow.tenant == tenant, SentFactRow.event_id.in_(ids[i:i + CHUNK]))))
    return out


def record_facts(conn: Connection, tenant: str, event_ids: Iterable[str]) -> None:
    """Remember ``event_ids`` as sent (inside the caller's transaction)."""
    rows = [{"tenant": tenant, "event_id": e} for e in dict.fromkeys(event_ids)]
    if not rows:
        return
    t: Any = SentFactRow.__table__
    ins: Any = postgresql.insert(t) if conn.dialect.name == "postgresql" else sqlite.insert(t)
    conn.execute(ins.on_conflict_do_nothing(index_elements=["tenant", "event_id"]), rows)


def reset(engine: Engine, tenant: str) -> None:
    """Forget ``tenant``'s marks (the next sync is a full one); sent facts are kept."""
    ensure_tables(engine)
    with engine.begin() as conn:
        conn.execute(delete(SyncMarkRow).where(SyncMarkRow.tenant == tenant))
