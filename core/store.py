"""The SQL store (SQLAlchemy 2.0 typed ORM, Alembic migrations).

``ATTAIN_DATABASE_URL`` chooses the database; the default is a SQLite file in the user's data
directory. PostgreSQL is supported (``postgresql+psycopg://…``) and tested.

Money is stored as exact decimal text, never as a float column.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Dialect,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

DEFAULT_TENANT = "default"


class ExactDecimal(TypeDecorator[Decimal]):
    """Decimal stored as its exact text, so SQLite never turns money into a float."""

    impl = String(64)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        return None if value is None else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class Base(DeclarativeBase):
    pass


class EventRow(Base):
    """The event log: every valid, non-duplicate event as it arrived (raw JSON)."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("tenant", "event_id", name="uq_events_tenant_event_id"),
                      Index("ix_events_tenant_type", "tenant", "type"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(100))
    event_id: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[str] = mapped_column(String(200))
    version: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[str] = mapped_column(Text)


class DealRow(Base):
    """The latest accepted snapshot of every deal."""

    __tablename__ = "deals"

    tenant: Mapped[str] = mapped_column(String(100), primary_key=True)
    deal_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str] = mapped_column(String(200))
    occurred_at: Mapped[dt.datetime] = mapped_column()
    owner: Mapped[str] = mapped_column(String(200))
    account: Mapped[str | None] = mapped_column(String(200))
    product: Mapped[str | None] = mapped_column(String(200))
    stage: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10))
    amount: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    currency: Mapped[str] = mapped_column(String(3))
    engaged_on: Mapped[dt.date | None] = mapped_column()
    closed_on: Mapped[dt.date | None] = mapped_column()


class KpiCellRow(Base):
    """Additive KPI components per cube cell (owner, product, account, quarter); '' = none."""

    __tablename__ = "kpi_cells"

    tenant: Mapped[str] = mapped_column(String(100), primary_key=True)
    cell: Mapped[str] = mapped_column(String(1000), primary_key=True)  # the four keys joined by US
    owner: Mapped[str] = mapped_column(String(200))
    product: Mapped[str] = mapped_column(String(200))
    account: Mapped[str] = mapped_column(String(200))
    quarter: Mapped[str] = mapped_column(String(10))
    components: Mapped[str] = mapped_column(Text)  # JSON object of exact decimal strings


class DeadLetterRow(Base):
    """A rejected input with where it came from and why.

    ``payload`` is the input as text; when the input was bytes that are not valid UTF-8, or text
    the database cannot hold (a NUL character, a lone surrogate), ``payload`` shows it with
    replacement characters and ``raw`` keeps the original bytes exactly (see :attr:`original`).
    """

    __tablename__ = "deadletters"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(100), index=True)
    source: Mapped[str] = mapped_column(String(500))
    line: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column()
    raw: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)

    @property
    def original(self) -> bytes:
        """The rejected input's bytes exactly as received (UTF-8 for text inputs)."""
        return self.raw if self.raw is not None else self.payload.encode("utf-8")


class RepRow(Base):
    __tablename__ = "reps"

    tenant: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    manager: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(100))


class AccountRow(Base):
    __tablename__ = "accounts"

    tenant: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    sector: Mapped[str | None] = mapped_column(String(100))
    parent: Mapped[str | None] = mapped_column(String(200))


class ProductRow(Base):
    __tablename__ = "products"

    tenant: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    series: Mapped[str | None] = mapped_column(String(100))
    list_price: Mapped[Decimal | None] = mapped_column(ExactDecimal)


class PluginSettingRow(Base):
    __tablename__ = "plugin_settings"

    tenant: Mapped[str] = mapped_column(String(100), primary_key=True)
    plugin: Mapped[str] = mapped_column(String(200), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean)


class CounterRow(Base):
    """Monotonic counters (Prometheus style: ``attain_events_total{outcome="stale"}``)."""

    __tablename__ = "counters"

    tenant: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class MetaRow(Base):
    __tablename__ = "meta"

    tenant: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class StreamOffsetRow(Base):
    """The next offset to process per consumer group and partition, written in the same
    transaction as the batch that consumed the offsets before it (see docs/streams.md)."""

    __tablename__ = "stream_offsets"

    group_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    topic: Mapped[str] = mapped_column(String(250), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_offset: Mapped[int] = mapped_column(BigInteger)


# ---------------------------------------------------------------------------------------------


def default_url() -> str:
    url = os.environ.get("ATTAIN_DATABASE_URL")
    if url:
        return url
    import platformdirs

    data = Path(platformdirs.user_data_dir("attain"))
    data.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{data / 'attain.db'}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA cache_size=-262144")  # 256 MiB page cache: indexes of large logs stay hot
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


def _sqlite_connect(dbapi_conn: Any, record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (see _sqlite_begin).
    dbapi_conn.isolation_level = None
    _sqlite_pragmas(dbapi_conn, record)


def _sqlite_begin(conn: Any) -> None:
    # Writers ask for BEGIN IMMEDIATE: they take the write lock before reading what they will
    # change, so two processes writing at once are serialized instead of losing an update.
    if conn.get_execution_options().get("write_lock"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def make_engine(url: str) -> Engine:
    engine = create_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class Store:
    """Database access for the engine and the command line."""

    def __init__(self, url: str | None = None, *, run_migrations: bool = True) -> None:
        self.url = url or default_url()
        self.engine = make_engine(self.url)
        if run_migrations:
            migrate(self.engine)
        self.session = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def dispose(self) -> None:
        self.engine.dispose()

    # -- plugin settings -----------------------------------------------------------------------

    def disabled_plugins(self, tenant: str) -> set[str]:
        with self.session() as s:
            rows = s.scalars(
                select(PluginSettingRow.plugin).where(
                    PluginSettingRow.tenant == tenant, PluginSettingRow.enabled.is_(False)
                )
            )
            return set(rows)

    def set_plugin_enabled(self, tenant: str, plugin: str, enabled: bool) -> None:
        with self.session.begin() as s:
            s.merge(PluginSettingRow(tenant=tenant, plugin=plugin, enabled=enabled))

    # -- reading -------------------------------------------------------------------------------

    def counters(self, tenant: str) -> dict[str, int]:
        with self.session() as s:
            rows = s.execute(select(CounterRow.name, CounterRow.value).where(CounterRow.tenant == tenant))
            return {n: v for n, v in rows}

    def deadletters(self, tenant: str, limit: int | None = None) -> list[DeadLetterRow]:
        with self.session() as s:
            q = select(DeadLetterRow).where(DeadLetterRow.tenant == tenant).order_by(DeadLetterRow.id)
            if limit:
                q = q.limit(limit)
            return list(s.scalars(q))

    def get_meta(self, tenant: str, key: str) -> str | None:
        with self.session() as s:
            row = s.get(MetaRow, (tenant, key))
            return row.value if row else None

    def set_meta(self, tenant: str, key: str, value: str) -> None:
        with self.session.begin() as s:
            s.merge(MetaRow(tenant=tenant, key=key, value=value))

    def stream_offsets(self, group_id: str, topic: str) -> dict[int, int]:
        """partition → next offset to process, as committed by :func:`save_stream_offsets`."""
        t = StreamOffsetRow
        with self.session() as s:
            rows = s.execute(select(t.partition, t.next_offset)
                             .where(t.group_id == group_id, t.topic == topic))
            return {p: o for p, o in rows}

    def tenants(self) -> list[str]:
        with self.session() as s:
            q = select(DealRow.tenant).distinct().union(select(EventRow.tenant).distinct())
            return sorted(s.scalars(q))


def save_stream_offsets(conn: Connection, group_id: str, topic: str,
                        next_offsets: dict[int, int]) -> None:
    """Record, inside the caller's transaction, that every offset below ``next_offsets[p]`` of
    ``topic``'s partition ``p`` is processed. An offset never moves backwards."""
    if not next_offsets:
        return
    bigger = "GREATEST" if conn.dialect.name == "postgresql" else "MAX"
    conn.execute(
        text("INSERT INTO stream_offsets (group_id, topic, partition, next_offset) "
             "VALUES (:g, :t, :p, :o) ON CONFLICT (group_id, topic, partition) DO UPDATE SET "
             f"next_offset = {bigger}(stream_offsets.next_offset, excluded.next_offset)"),
        [{"g": group_id, "t": topic, "p": p, "o": o} for p, o in sorted(next_offsets.items())])


def cell_id(key: tuple[str, str, str, str]) -> str:
    """One indexed key for a cube cell (a row-value IN over four columns is not indexed)."""
    return "\x1f".join(key)


def dumps_components(comps: dict[str, Decimal]) -> str:
    return json.dumps({k: str(v) for k, v in sorted(comps.items()) if v != 0})


def loads_components(text: str) -> dict[str, Decimal]:
    return {k: Decimal(v) for k, v in json.loads(text).items()}
