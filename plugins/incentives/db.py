"""The incentives plugin's own tables (SQLAlchemy 2.0 typed ORM, prefixed ``incentives_``).

Created with ``metadata.create_all`` on the engine's database at first use. History is never
overwritten: plan versions, assignments, splits, statement revisions, adjustments and the audit
log are append-only; a statement row only moves through its workflow states and points at its
latest revision.
"""

from __future__ import annotations

import datetime as dt
import threading
import weakref
from decimal import Decimal

from attain.core.store import ExactDecimal
from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Engine as SAEngine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

_ID = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    pass


class PlanVersionRow(Base):
    __tablename__ = "incentives_plan_versions"
    __table_args__ = (UniqueConstraint("tenant", "name", "version",
                                       name="uq_incentives_plan_version"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[dt.date | None] = mapped_column(Date)
    effective_to: Mapped[dt.date | None] = mapped_column(Date)
    period: Mapped[str] = mapped_column(String(10))
    checksum: Mapped[str] = mapped_column(String(64))
    spec: Mapped[str] = mapped_column(Text)  # JSON, decimals as exact text
    source: Mapped[str] = mapped_column(Text)  # the file as loaded
    source_name: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class AssignmentRow(Base):
    """Rep → plan for a date range with a quota. ``payee = '*'`` assigns everyone. Append-only:
    for a period, the latest batch wins (within a batch, a named payee beats ``*``)."""

    __tablename__ = "incentives_assignments"
    __table_args__ = (Index("ix_incentives_assignments_tenant", "tenant", "payee"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(100))
    batch: Mapped[int] = mapped_column(BigInteger)
    payee: Mapped[str] = mapped_column(String(200))
    plan: Mapped[str] = mapped_column(String(200))
    start: Mapped[dt.date | None] = mapped_column(Date)
    end: Mapped[dt.date | None] = mapped_column(Date)
    quota: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    origin: Mapped[str] = mapped_column(String(500))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime)


class SplitRow(Base):
    """How a deal's credit is split (JSON rep → percent; '{}' = back to the owner). Latest wins."""

    __tablename__ = "incentives_splits"
    __table_args__ = (Index("ix_incentives_splits_deal", "tenant", "deal_id"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(100))
    deal_id: Mapped[str] = mapped_column(String(200))
    shares: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(500))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime)


class PeriodRow(Base):
    __tablename__ = "incentives_periods"

    tenant: Mapped[str] = mapped_column(String(100), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    locked: Mapped[bool] = mapped_column(Boolean)
    locked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    locked_by: Mapped[str | None] = mapped_column(String(200))


class StatementRow(Base):
    """One payee's statement for one period; ``revision`` points at the current revision."""

    __tablename__ = "incentives_statements"
    __table_args__ = (UniqueConstraint("tenant", "payee", "period",
                                       name="uq_incentives_statement"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(100))
    payee: Mapped[str] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20))  # draft|approved|signed_off|needs_reapproval
    revision: Mapped[int] = mapped_column(Integer)
    total: Mapped[Decimal] = mapped_column(ExactDecimal)
    plan: Mapped[str | None] = mapped_column(String(200))
    plan_version: Mapped[int | None] = mapped_column(Integer)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    approved_revision: Mapped[int | None] = mapped_column(Integer)
    approved_total: Mapped[Decimal | None] = mapped_column(ExactDecimal)
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    signed_by: Mapped[str | None] = mapped_column(String(200))
    signed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class RevisionRow(Base):
    """An immutable computed revision of a statement: header and lines as exact JSON."""

    __tablename__ = "incentives_statement_revisions"
    __table_args__ = (UniqueConstraint("statement_id", "revision",
                                       name="uq_incentives_revision"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    statement_id: Mapped[int] = mapped_column(BigInteger, index=True)
    revision: Mapped[int] = mapped_column(Integer)
    total: Mapped[Decimal] = mapped_column(ExactDecimal)
    header: Mapped[str] = mapped_column(Text)
    lines: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(500))
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime)


class AdjustmentRow(Base):
    """A manual or inquiry adjustment paid in ``period`` (an open period)."""

    __tablename__ = "incentives_adjustments"
    __table_args__ = (Index("ix_incentives_adjustments", "tenant", "payee", "period"),)

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(100))
    payee: Mapped[str] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(10))
    source_period: Mapped[str | None] = mapped_column(String(10))
    amount: Mapped[Decimal] = mapped_column(ExactDecimal)
    reason: Mapped[str] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class InquiryRow(Base):
    """A rep's dispute of a statement line, resolved by a reply or an adjustment."""

    __tablename__ = "incentives_inquiries"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(100), index=True)
    payee: Mapped[str] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(10))
    revision: Mapped[int] = mapped_column(Integer)
    line_no: Mapped[int | None] = mapped_column(Integer)
    line: Mapped[str] = mapped_column(Text)  # the disputed line as JSON
    raised_by: Mapped[str | None] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))  # open | answered | adjusted
    reply: Mapped[str | None] = mapped_column(Text)
    adjustment_id: Mapped[int | None] = mapped_column(BigInteger)
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


class AccrualRow(Base):
    """The live commission accrued so far by a payee in a period (updated from deal events)."""

    __tablename__ = "incentives_accruals"

    tenant: Mapped[str] = mapped_column(String(100), primary_key=True)
    payee: Mapped[str] = mapped_column(String(200), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    total: Mapped[Decimal] = mapped_column(ExactDecimal)
    credited: Mapped[Decimal] = mapped_column(ExactDecimal)
    deals: Mapped[int] = mapped_column(Integer)
    plan: Mapped[str | None] = mapped_column(String(200))
    plan_version: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class AuditRow(Base):
    """Who did what: plan loads, assignments, runs, locks, approvals, inquiries, adjustments."""

    __tablename__ = "incentives_audit"

    id: Mapped[int] = mapped_column(_ID, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(100), index=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    actor: Mapped[str | None] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50))
    payee: Mapped[str | None] = mapped_column(String(200))
    period: Mapped[str | None] = mapped_column(String(10))
    details: Mapped[str] = mapped_column(Text)


class GenerationRow(Base):
    """Bumped whenever plans, assignments or splits change, so live books know to reload."""

    __tablename__ = "incentives_generation"

    tenant: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


_created: weakref.WeakSet[SAEngine] = weakref.WeakSet()
_lock = threading.Lock()


def ensure_tables(engine: SAEngine) -> None:
    """Create the plugin's tables once per database engine (idempotent)."""
    if engine in _created:
        return
    with _lock:
        if engine not in _created:
            Base.metadata.create_all(engine)
            _created.add(engine)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
