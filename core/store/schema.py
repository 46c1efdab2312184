"""The core's tables (SQLAlchemy 2.0 typed ORM; their history is in ``core/migrations``).

Money is stored as exact decimal text (:class:`ExactDecimal`), never as a float column. Plugins
declare their own tables on their own :class:`~sqlalchemy.orm.DeclarativeBase` (use
:class:`ExactDecimal` for money and :func:`id_column` for autoincrement ids) and ship migrations
for them (see :mod:`attain.core.store.migrations`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
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
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

DEFAULT_TENANT = "default"

#: a 64-bit autoincrement primary key (SQLite's INTEGER PRIMARY KEY is its rowid)
ID_TYPE = BigInteger().with_variant(Integer, "sqlite")


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
                      Index("ix_events_tenant_type", "tenant", "type"),
                      Index("ix_events_tenant_id", "tenant", "id"))

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(100))
    event_id: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(20))
    entity_id: Mapped[str] = mapped_column(String(200))
    version: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[str] = mapped_column(Text)


class DealRow(Base):
    """The latest accepted snapshot of every deal."""

    __tablename__ = "deals"
    #: each account's first won deal in a few index seeks per account (the period metrics)
    __table_args__ = (Index("ix_deals_tenant_status_account", "tenant", "status", "account", "closed_on"),)

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
    lead_source: Mapped[str | None] = mapped_column(String(200))


class DealLeadLinkRow(Base):
    """The converted lead a deal came from, for deals without a ``lead_source`` of their own:
    per deal, the earliest (``occurred_at``, then ``event_id``) lead event of kind ``converted``
    that names the deal (``deal_id``) and carries a ``source``. Kept whether or not the deal has
    arrived yet, so the attribution does not depend on the order of lead and deal events."""

    __tablename__ = "deal_lead_links"

    tenant: Mapped[str] = mapped_column(String(100), primary_key=True)
    deal_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column()  # naive UTC, the lead event's
    event_id: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(Text)


class KpiRollupRow(Base):
    """Additive KPI components summed per (dim, name, grain, period): see
    :mod:`attain.core.rollups`. A clustered table on SQLite (WITHOUT ROWID): the primary key is
    the only index, and reads of one dim and grain are range scans of it."""

    __tablename__ = "kpi_rollups"
    __table_args__ = {"sqlite_with_rowid": False}

    tenant: Mapped[str] = mapped_column(String(100), primary_key=True)
    dim: Mapped[str] = mapped_column(String(10), primary_key=True)  # all | rep | product | account
    grain: Mapped[str] = mapped_column(String(10), primary_key=True)  # total | year | … | day
    period: Mapped[str] = mapped_column(String(12), primary_key=True)  # "" for total / no day
    name: Mapped[str] = mapped_column(String(200), primary_key=True)  # "" for all / none
    components: Mapped[str] = mapped_column(Text)  # JSON object of exact decimal strings


class DeadLetterRow(Base):
    """A rejected input with where it came from and why.

    ``payload`` is the input as text; when the input was bytes that are not valid UTF-8, or text
    the database cannot hold (a NUL character, a lone surrogate), ``payload`` shows it with
    replacement characters and ``raw`` keeps the original bytes exactly (see :attr:`original`).
    """

    __tablename__ = "deadletters"

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True)
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


class FxRateRow(Base):
    """A dated exchange rate: units of the tenant's reporting currency per unit of ``currency``,
    from ``day`` until the currency's next rate (reference data, see core/fx.py)."""

    __tablename__ = "fx_rates"

    tenant: Mapped[str] = mapped_column(String(100), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    day: Mapped[dt.date] = mapped_column(primary_key=True)
    rate: Mapped[Decimal] = mapped_column(ExactDecimal)


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
