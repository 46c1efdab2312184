"""The core's tables (SQLAlchemy Core :class:`~sqlalchemy.Table` objects on :data:`metadata`;
their history is in ``core/migrations``).

Declared with SQLAlchemy Core, not the ORM: every command reads and writes them with Core
statements or plain SQL, and importing ``sqlalchemy.orm`` (and building mapped classes) was a
sizeable part of a command's start. The ORM classes of earlier versions (``EventRow`` …) are
still importable from :mod:`attain.core.store` (:mod:`.orm`, mapped onto these tables), imported
only when asked for.

Money is stored as exact decimal text (:class:`ExactDecimal`), never as a float column. Plugins
declare their own tables on their own :class:`~sqlalchemy.orm.DeclarativeBase` (or
:class:`~sqlalchemy.MetaData`; use :class:`ExactDecimal` for money and :data:`ID_TYPE` for
autoincrement ids) and ship migrations for them (see :mod:`attain.core.store.migrations`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

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


#: the core's tables (Alembic's ``target_metadata`` for the core's migrations)
metadata = MetaData()


def _key(name: str, type_: Any) -> Column[Any]:
    """A primary-key column."""
    return Column(name, type_, primary_key=True)


def _req(name: str, type_: Any) -> Column[Any]:
    """A column that is never NULL."""
    return Column(name, type_, nullable=False)


def _opt(name: str, type_: Any) -> Column[Any]:
    """A column that may be NULL."""
    return Column(name, type_, nullable=True)


#: The event log: every valid, non-duplicate event as it arrived (raw JSON).
events_table = Table(
    "events", metadata,
    _key("id", ID_TYPE),
    _req("tenant", String(100)),
    _req("event_id", String(200)),
    _req("type", String(20)),
    _req("entity_id", String(200)),
    _opt("version", BigInteger),
    _req("payload", Text),
    UniqueConstraint("tenant", "event_id", name="uq_events_tenant_event_id"),
    Index("ix_events_tenant_type", "tenant", "type"),
    Index("ix_events_tenant_id", "tenant", "id"),
)

#: The latest accepted snapshot of every deal; ``ix_deals_tenant_status_account``: each
#: account's first won deal in a few index seeks per account (the period metrics).
deals_table = Table(
    "deals", metadata,
    _key("tenant", String(100)),
    _key("deal_id", String(200)),
    _req("version", BigInteger),
    _req("event_id", String(200)),
    _req("occurred_at", DateTime),
    _req("owner", String(200)),
    _opt("account", String(200)),
    _opt("product", String(200)),
    _req("stage", String(100)),
    _req("status", String(10)),
    _opt("amount", ExactDecimal),
    _req("currency", String(3)),
    _opt("engaged_on", Date),
    _opt("closed_on", Date),
    _opt("lead_source", String(200)),
    Index("ix_deals_tenant_status_account", "tenant", "status", "account", "closed_on"),
)

#: The converted lead a deal came from, for deals without a ``lead_source`` of their own: per
#: deal, the earliest (``occurred_at``, then ``event_id``) lead event of kind ``converted`` that
#: names the deal (``deal_id``) and carries a ``source``. Kept whether or not the deal has
#: arrived yet, so the attribution does not depend on the order of lead and deal events.
deal_lead_links_table = Table(
    "deal_lead_links", metadata,
    _key("tenant", String(100)),
    _key("deal_id", String(200)),
    _req("occurred_at", DateTime),  # naive UTC, the lead event's
    _req("event_id", String(200)),
    _req("source", Text),
)

#: Additive KPI components summed per (dim, name, grain, period): see
#: :mod:`attain.core.rollups`. A clustered table on SQLite (WITHOUT ROWID): the primary key is
#: the only index, and reads of one dim and grain are range scans of it.
kpi_rollups_table = Table(
    "kpi_rollups", metadata,
    _key("tenant", String(100)),
    _key("dim", String(10)),  # all | rep | product | account
    _key("grain", String(10)),  # total | year | … | day
    _key("period", String(12)),  # "" for total / no day
    _key("name", String(200)),  # "" for all / none
    _req("components", Text),  # JSON object of exact decimal strings
    sqlite_with_rowid=False,
)

#: A rejected input with where it came from and why (read back as
#: :class:`attain.core.store.db.DeadLetter`). ``payload`` is the input as text; when the input
#: was bytes that are not valid UTF-8, or text the database cannot hold (a NUL character, a lone
#: surrogate), ``payload`` shows it with replacement characters and ``raw`` keeps the original
#: bytes exactly.
deadletters_table = Table(
    "deadletters", metadata,
    _key("id", ID_TYPE),
    Column("tenant", String(100), nullable=False, index=True),
    _req("source", String(500)),
    _opt("line", Integer),
    _req("reason", Text),
    _req("payload", Text),
    _req("created_at", DateTime),
    _opt("raw", LargeBinary),
)

reps_table = Table(
    "reps", metadata,
    _key("tenant", String(100)),
    _key("name", String(200)),
    _opt("manager", String(200)),
    _opt("region", String(100)),
)

accounts_table = Table(
    "accounts", metadata,
    _key("tenant", String(100)),
    _key("name", String(200)),
    _opt("sector", String(100)),
    _opt("parent", String(200)),
)

products_table = Table(
    "products", metadata,
    _key("tenant", String(100)),
    _key("name", String(200)),
    _opt("series", String(100)),
    _opt("list_price", ExactDecimal),
)

#: A dated exchange rate: units of the tenant's reporting currency per unit of ``currency``,
#: from ``day`` until the currency's next rate (reference data, see core/fx.py).
fx_rates_table = Table(
    "fx_rates", metadata,
    _key("tenant", String(100)),
    _key("currency", String(3)),
    _key("day", Date),
    _req("rate", ExactDecimal),
)

plugin_settings_table = Table(
    "plugin_settings", metadata,
    _key("tenant", String(100)),
    _key("plugin", String(200)),
    _req("enabled", Boolean),
)

#: Monotonic counters (Prometheus style: ``attain_events_total{outcome="stale"}``).
counters_table = Table(
    "counters", metadata,
    _key("tenant", String(100)),
    _key("name", String(200)),
    _req("value", BigInteger),
)

meta_table = Table(
    "meta", metadata,
    _key("tenant", String(100)),
    _key("key", String(200)),
    _req("value", Text),
)

#: The next offset to process per consumer group and partition, written in the same
#: transaction as the batch that consumed the offsets before it (see docs/streams.md).
stream_offsets_table = Table(
    "stream_offsets", metadata,
    _key("group_id", String(200)),
    _key("topic", String(250)),
    _key("partition", Integer),
    _req("next_offset", BigInteger),
)
