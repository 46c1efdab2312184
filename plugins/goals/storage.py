"""The goals plugin's own tables (prefixed ``goals_``), migrated with the store's database
(``migrations/``, registered through ``attain_register_migrations``). Goals are stored as
validated JSON documents (Decimal as exact text) with the columns needed to find them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from attain.core.store import create_missing, upsert, write_locked
from sqlalchemy import Date, DateTime, Integer, String, Text, delete, inspect, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .model import Goal


class GoalsBase(DeclarativeBase):
    pass


class GoalRow(GoalsBase):
    __tablename__ = "goals_goals"

    tenant: Mapped[str] = mapped_column(String(100), primary_key=True)
    id: Mapped[str] = mapped_column(String(600), primary_key=True)
    parent: Mapped[str | None] = mapped_column(String(600), index=True)
    position: Mapped[int] = mapped_column(Integer)
    metric: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(300))
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    data: Mapped[str] = mapped_column(Text)  # Goal.model_dump_json()


class GoalStatusRow(GoalsBase):
    """The last evaluated status of a goal (to notice transitions)."""

    __tablename__ = "goals_status"

    tenant: Mapped[str] = mapped_column(String(100), primary_key=True)
    goal_id: Mapped[str] = mapped_column(String(600), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    as_of: Mapped[dt.date] = mapped_column(Date)
    detail: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class GoalConfigRow(GoalsBase):
    """Per-tenant settings of the plugin (``attain goals config``)."""

    __tablename__ = "goals_config"

    tenant: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class GoalClockRow(GoalsBase):
    """Event-time watermark: the latest event day seen per tenant (the live evaluation's as-of)."""

    __tablename__ = "goals_clock"

    tenant: Mapped[str] = mapped_column(String(100), primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date)


def ensure_tables(engine: Engine) -> None:
    """Create the plugin's tables where they are missing (a store opened without migrations;
    every :class:`attain.core.Store` runs the plugin's migrations, ``migrations/``)."""
    create_missing_tables(engine)


def tables_exist(engine: Engine) -> bool:
    """Whether the plugin's tables exist (they do once the store ran its migrations)."""
    return inspect(engine).has_table(GoalRow.__tablename__)


def create_missing_tables(engine: Engine) -> None:
    with engine.begin() as conn:
        create_missing(conn, GoalsBase.metadata)


class GoalRepo:
    """Reads and writes goals, statuses and settings of one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.writes = write_locked(engine)  # read-then-write transactions take the lock first

    # -- goals ---------------------------------------------------------------------------------

    def all(self, tenant: str) -> list[Goal]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(GoalRow.data).where(GoalRow.tenant == tenant)
                                .order_by(GoalRow.position, GoalRow.id))
            return [Goal.model_validate_json(r[0]) for r in rows]

    def get(self, tenant: str, goal_id: str) -> Goal | None:
        with self.engine.connect() as conn:
            data = conn.execute(select(GoalRow.data).where(
                GoalRow.tenant == tenant, GoalRow.id == goal_id)).scalar()
        return None if data is None else Goal.model_validate_json(data)

    def count(self, tenant: str) -> int:
        with self.engine.connect() as conn:
            return len(conn.execute(select(GoalRow.id).where(GoalRow.tenant == tenant)).all())

    def save(self, tenant: str, goals: Iterable[Goal], replace_below: Iterable[str] = ()) -> None:
        """Upsert goals in one transaction, first deleting every descendant of the goals named
        in ``replace_below`` (a regenerated cascade replaces the old one)."""
        goals = list(goals)
        with self.writes.begin() as conn:
            for root in replace_below:
                self._delete_tree(conn, tenant, root, include_root=False)
            pos = conn.execute(select(GoalRow.position).where(GoalRow.tenant == tenant)
                               .order_by(GoalRow.position.desc()).limit(1)).scalar() or 0
            existing = {r[0]: r[1] for r in conn.execute(
                select(GoalRow.id, GoalRow.position).where(GoalRow.tenant == tenant))}
            rows = []
            for g in goals:
                if g.id in existing:
                    p = existing[g.id]
                else:
                    pos += 1
                    p = pos
                rows.append({"tenant": tenant, "id": g.id, "parent": g.parent, "position": p,
                             "metric": g.metric, "owner": g.owner,
                             "period_start": g.period.start, "period_end": g.period.end,
                             "data": g.model_dump_json()})
            upsert(conn, GoalRow.__table__, rows, ["tenant", "id"],
                    ["parent", "position", "metric", "owner", "period_start", "period_end", "data"])

    def _delete_tree(self, conn: Connection, tenant: str, root: str,
                     include_root: bool = True) -> int:
        ids = [r[0] for r in conn.execute(select(GoalRow.id).where(GoalRow.tenant == tenant))
               if (include_root and r[0] == root) or r[0].startswith(root + "/")]
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            conn.execute(delete(GoalRow).where(GoalRow.tenant == tenant, GoalRow.id.in_(chunk)))
            conn.execute(delete(GoalStatusRow).where(GoalStatusRow.tenant == tenant,
                                                     GoalStatusRow.goal_id.in_(chunk)))
        return len(ids)

    def delete_tree(self, tenant: str, root: str) -> int:
        with self.writes.begin() as conn:
            return self._delete_tree(conn, tenant, root)

    # -- statuses ------------------------------------------------------------------------------

    def statuses(self, tenant: str) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {gid: st for gid, st in conn.execute(
                select(GoalStatusRow.goal_id, GoalStatusRow.status)
                .where(GoalStatusRow.tenant == tenant))}

    def set_status(self, tenant: str, goal_id: str, status: str, as_of: dt.date,
                   detail: str) -> None:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        with self.writes.begin() as conn:
            upsert(conn, GoalStatusRow.__table__,
                    [{"tenant": tenant, "goal_id": goal_id, "status": status, "as_of": as_of,
                      "detail": detail, "updated_at": now}],
                    ["tenant", "goal_id"], ["status", "as_of", "detail", "updated_at"])

    # -- settings ------------------------------------------------------------------------------

    def config(self, tenant: str) -> dict[str, str]:
        with self.engine.connect() as conn:
            return {k: v for k, v in conn.execute(
                select(GoalConfigRow.key, GoalConfigRow.value).where(GoalConfigRow.tenant == tenant))}

    def set_config(self, tenant: str, key: str, value: str | None) -> None:
        with self.writes.begin() as conn:
            if value is None:
                conn.execute(delete(GoalConfigRow).where(GoalConfigRow.tenant == tenant,
                                                         GoalConfigRow.key == key))
            else:
                upsert(conn, GoalConfigRow.__table__,
                        [{"tenant": tenant, "key": key, "value": value}], ["tenant", "key"], ["value"])

    # -- event-time clock ----------------------------------------------------------------------

    def advance_clock(self, tenant: str, day: dt.date) -> dt.date:
        """Move the tenant's watermark to ``day`` if later; returns the watermark."""
        with self.writes.begin() as conn:
            cur = conn.execute(select(GoalClockRow.as_of).where(GoalClockRow.tenant == tenant)).scalar()
            if cur is not None and cur >= day:
                return cur
            upsert(conn, GoalClockRow.__table__, [{"tenant": tenant, "as_of": day}],
                    ["tenant"], ["as_of"])
            return day

    def clock(self, tenant: str) -> dt.date | None:
        with self.engine.connect() as conn:
            return conn.execute(select(GoalClockRow.as_of).where(GoalClockRow.tenant == tenant)).scalar()
