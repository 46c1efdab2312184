"""The forecast plugin's own tables (``forecast_``), migrated with the store (``migrations/``).

* ``forecast_runs``: one row per stored forecast run — when, which model, the grouping, the day
  the data ended (``data_as_of``) and, for a backtest, its cutoff;
* ``forecast_figures``: the run's figures per group and period (forecast, lower, upper), money as
  exact decimal text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from attain.core import ExactDecimal, Period, Store
from sqlalchemy import Date, DateTime, ForeignKey, Integer, String, Table, insert, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class ForecastBase(DeclarativeBase):
    pass


class RunRow(ForecastBase):
    __tablename__ = "forecast_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    kind: Mapped[str] = mapped_column(String(20))  # forecast | backtest
    model: Mapped[str] = mapped_column(String(100))
    grouping: Mapped[str] = mapped_column(String(20))
    data_as_of: Mapped[dt.date] = mapped_column(Date)
    cutoff: Mapped[dt.date | None] = mapped_column(Date, nullable=True)


class FigureRow(ForecastBase):
    __tablename__ = "forecast_figures"

    run_id: Mapped[int] = mapped_column(ForeignKey("forecast_runs.id", ondelete="CASCADE"),
                                        primary_key=True)
    group: Mapped[str] = mapped_column("group_name", String(200), primary_key=True)
    period: Mapped[str] = mapped_column(String(20), primary_key=True)
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    forecast: Mapped[Decimal] = mapped_column(ExactDecimal())
    lower: Mapped[Decimal] = mapped_column(ExactDecimal())
    upper: Mapped[Decimal] = mapped_column(ExactDecimal())


FIGURES: Table = FigureRow.__table__  # type: ignore[assignment]


def save_run(store: Store, tenant: str, *, kind: str, model: str, grouping: str,
             data_as_of: dt.date, cutoff: dt.date | None, figures: Iterable[dict[str, Any]],
             now: dt.datetime | None = None) -> int:
    """Store one run and its figures (rows with group, period, forecast, lower,
    upper); returns the run's id."""
    with store.transaction(tenant) as conn:
        run_id = conn.execute(insert(RunRow).values(
            tenant=tenant, created_at=now or dt.datetime.now(dt.UTC).replace(tzinfo=None),
            kind=kind, model=model, grouping=grouping, data_as_of=data_as_of, cutoff=cutoff,
        ).returning(RunRow.id)).scalar_one()
        rows = []
        for f in figures:
            p = Period.parse(f["period"])
            rows.append({"run_id": run_id, "group_name": f["group"], "period": f["period"],
                         "period_start": p.start, "period_end": p.end, "forecast": f["forecast"],
                         "lower": f["lower"], "upper": f["upper"]})
        if rows:
            conn.execute(insert(FIGURES), rows)
    return int(run_id)


def runs(store: Store, tenant: str) -> list[dict[str, Any]]:
    t = RunRow.__table__
    with store.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(t).where(t.c.tenant == tenant).order_by(t.c.id))]


def figures(store: Store, tenant: str) -> list[dict[str, Any]]:
    """Every stored figure of the tenant with its run's fields."""
    r, f = RunRow.__table__, FigureRow.__table__
    q = (select(r.c.id.label("run"), r.c.created_at, r.c.kind, r.c.model, r.c.grouping,
                r.c.data_as_of, r.c.cutoff, f.c.group_name.label("group"), f.c.period,
                f.c.period_start, f.c.period_end, f.c.forecast, f.c.lower, f.c.upper)
         .join(f, f.c.run_id == r.c.id).where(r.c.tenant == tenant)
         .order_by(r.c.id, f.c.group_name, f.c.period_start))
    with store.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(q)]
