"""Period metrics: figures that need state across events, computed per period at read time.

An additive :class:`~attain.core.kpi.Metric` is a sum of each event's own parts, so it is kept in
the roll-ups and updated the moment an event arrives. Some figures a sales leader tracks are not:
a *new customer* is an account's **first** won deal, *churn rate* divides by the customers
active at the period's **start**, *headcount* is who is employed at its end. A plugin registers
those as :class:`PeriodMetric` through ``attain_register_period_metrics``; :meth:`Engine.kpis
<attain.core.engine.Engine.kpis>` computes them, for the company (grouping ``all``) and per
period of a time grouping (``year`` … ``day``), from the state the store holds at the moment of
the read (:class:`PeriodReads`), so they follow every accepted event and are, like every other
figure, a pure function of the event log: replaying, duplicating or reordering events never
changes them. Other groupings (a rep, a region) leave them ``null``: they are company figures.

A read computes them only when asked: name them (``metrics=[...]``, ``attain kpi --metrics``, a
goal's metric) or pass ``period_metrics=True`` (what ``attain kpi --format json|csv`` and the
API's KPI reads do for ``all`` and the time groupings).
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .periods import Period, custom

if TYPE_CHECKING:
    from .engine import Engine
    from .fx import Rates
    from .kpi import Dimensions
    from .models import DealEvent

ZERO = Decimal(0)
T = TypeVar("T")
PeriodValue = Decimal | int | None
#: ``compute(reads, periods)`` → period key → metric name → value (for every metric sharing it)
PeriodCompute = Callable[["PeriodReads", Sequence[Period]], Mapping[str, Mapping[str, PeriodValue]]]
#: ``by_group(reads, grouping, period)`` → group key → metric name → value (an attribute
#: grouping; ``period`` None: the read names none, i.e. every day of the tenant, :attr:`span`)
GroupCompute = Callable[["PeriodReads", str, "Period | None"], Mapping[object, Mapping[str, PeriodValue]]]
#: the groupings whose rows get period metrics (one per period, or the company)
PERIOD_GROUPINGS = ("all", "year", "quarter", "month", "week", "day")


@dataclass(frozen=True)
class PeriodMetric:
    """A company figure computed per period from state across events (see the module).

    ``compute(reads, periods)`` returns, for each period's ``key``, the values of this metric
    (and of every other metric registered with the same function: one call serves them all).
    It reads only through ``reads`` (:class:`PeriodReads`, tenant-scoped) and must be a pure
    function of what it reads. Names share one namespace with the additive metrics.
    """

    name: str
    description: str
    compute: PeriodCompute
    unit: Literal["money", "count", "ratio", "days", "number"] = "number"
    plugin: str = field(default="", compare=False)
    #: whether ``attain kpi``'s table shows it (JSON and CSV show every metric)
    in_table: bool = False
    #: whether a period's value is the sum of its sub-periods' values (new customers: yes;
    #: churn rate, headcount: no); goals pace and split the first kind cumulatively
    additive_over_time: bool = False
    #: the event types whose arrival can change it (any day's: a won deal of 2016 makes an
    #: account no longer new in 2017)
    events: tuple[str, ...] = ("deal", "lead", "customer", "cost", "rep")
    #: attribute groupings it also has values for (e.g. ``("sector",)``: churn and LTV per
    #: account segment), computed by ``by_group`` over the read's period (or the span)
    groupings: tuple[str, ...] = ()
    by_group: GroupCompute | None = None


class PeriodReads:
    """What period metrics read, for one tenant: the engine keeps one per state of the tenant's
    event log and exchange rates (:meth:`Engine.period_reads`), so the reads cached here are done
    once per state. Money is in the tenant's reporting currency (converted as the KPIs convert;
    amounts without a rate are left out: :meth:`Engine.unconverted` counts them, and ``attain
    kpi`` warns). Reference data is
    read anew each time (a roster loaded later regroups every figure)."""

    def __init__(self, engine: Engine, tenant: str) -> None:
        self.engine = engine
        self.tenant = tenant
        self._memo: dict[str, Any] = {}

    @cached_property
    def rates(self) -> Rates:
        return self.engine.rates(self.tenant)

    @property
    def dimensions(self) -> Dimensions:
        """The tenant's reference data now (reps, accounts with their sector, products): not
        kept, since loading reference data does not move the event log."""
        return self.engine.dimensions(self.tenant)

    def won_revenue_by(self, grouping: str, period: Period | None) -> dict[object, Decimal]:
        """Won revenue of ``period`` (None: all time) per group of an attribute grouping
        (``sector`` …): the core's ``won_revenue`` of :meth:`Engine.kpis`."""
        rows = self.engine.kpis(self.tenant, grouping, period=period, metrics=["won_revenue"])
        return {r["key"]: Decimal(str(r["won_revenue"])) for r in rows}

    @cached_property
    def first_won_days(self) -> dict[str, dt.date]:
        """Each account's first won deal's ``closed_on`` (its day as a new customer), over the
        latest snapshots: a deal reopened or lost since no longer counts."""
        from .store import reads as store_reads

        with self.engine.store.connect() as conn:
            return store_reads.first_won_days(conn, self.tenant)

    @cached_property
    def _day_rows(self) -> dict[dt.date, Mapping[str, Decimal]]:
        rows = self.engine.rollup_rows(self.tenant, "all", "day")
        return {dt.date.fromisoformat(p): c for _, _, p, c in rows if p}

    @cached_property
    def won_revenue_by_day(self) -> dict[dt.date, Decimal]:
        """Won revenue (the core's ``won_revenue``: Σ amount of won deals, converted) per KPI day."""
        return {d: c["core:won_revenue"] for d, c in self._day_rows.items()
                if c.get("core:won_revenue")}

    @cached_property
    def _revenue_prefix(self) -> tuple[list[dt.date], list[Decimal]]:
        days = sorted(self.won_revenue_by_day)
        sums, total = [ZERO], ZERO
        for d in days:
            total += self.won_revenue_by_day[d]
            sums.append(total)
        return days, sums

    def won_revenue(self, period: Period) -> Decimal:
        """Won revenue of the days of ``period`` (exact)."""
        days, sums = self._revenue_prefix
        return sums[bisect_right(days, period.end)] - sums[bisect_left(days, period.start)]

    @cached_property
    def span(self) -> Period | None:
        """The days from the tenant's first to its last KPI day (a deal's ``closed_on``, a
        fact's UTC day): the company's period when a read names none."""
        days = [d for d, c in self._day_rows.items() if any(c.values())]
        if not days:
            return None
        return custom(min(days), max(days))

    def facts(self, *types: str) -> list[Any]:
        """The tenant's facts of these types (``lead``, ``customer``, ``cost``, ``rep`` …), each
        event id once, in arrival order; a cost or customer event's amount in the reporting
        currency (a cost without a rate is left out, a customer event without one keeps no
        amount; :meth:`Engine.unconverted` counts both). Read each call: keep what you derive
        from them with :meth:`memo`."""
        from .fx import convert_fact

        rates = self.rates
        out = []
        for ev in self.engine.events(self.tenant, types=types):
            if getattr(ev, "currency", rates.reporting) != rates.reporting and getattr(ev, "amount", None) is not None:
                converted, no_rate = convert_fact(ev, rates)
                if no_rate is not None:
                    if ev.type == "cost":
                        continue
                    converted = ev.model_copy(update={"amount": None})
                ev = converted
            out.append(ev)
        return out

    def memo(self, key: str, build: Callable[[], T]) -> T:
        """``build()``, once per state of the tenant: the engine keeps this object while the
        tenant's event log and exchange rates are unchanged, so a plugin keeps what it derives
        from the reads here (prefix the key with the plugin's name)."""
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]  # type: ignore[no-any-return]

    def snapshots(self, deal_ids: Iterable[str]) -> list[DealEvent]:
        """The latest snapshots of these deals (those that exist)."""
        return self.engine.snapshots(self.tenant, deal_ids)


def split_names(names: Sequence[str] | None, period: Mapping[str, PeriodMetric]) -> tuple[
        list[str] | None, list[PeriodMetric]]:
    """``names`` (a read's metrics) split into additive names and the period metrics named."""
    if names is None:
        return None, []
    return [n for n in names if n not in period], [period[n] for n in dict.fromkeys(names) if n in period]


def row_period(key: object, grouping: str, read: Period | None, reads: PeriodReads) -> Period | None:
    """The period a row of ``grouping`` covers (clipped to the read's period), or None."""
    if grouping == "all":
        return read if read is not None else reads.span
    if not isinstance(key, str):
        return None
    from .rollups import parse_read_period

    p = parse_read_period(key)
    if read is None:
        return p
    start, end = max(p.start, read.start), min(p.end, read.end)
    if start > end:
        return None
    if (start, end) == (p.start, p.end):
        return p
    return custom(start, end)


def fill(rows: list[dict[str, object]], groupings: Sequence[str], read: Period | None,
         metrics: Sequence[PeriodMetric], reads_of: Callable[[], PeriodReads]) -> None:
    """Add the period metrics' values to ``rows`` (in place): per period of a time grouping,
    the company's (``all``), per group of an attribute grouping a metric declares
    (:attr:`PeriodMetric.groupings`); ``None`` anywhere else. ``reads_of()`` is called only
    when some value is computed."""
    if not metrics:
        return
    from .kpi import _normalize

    grouping = groupings[0] if len(groupings) == 1 else None
    values = _row_values(rows, grouping, read, metrics, reads_of)
    for r in rows:
        got = values.get(id(r), {})
        for m in metrics:
            v = got.get(m.name)
            r[m.name] = None if v is None else _normalize(v)


def _row_values(rows: list[dict[str, object]], grouping: str | None, read: Period | None,
                metrics: Sequence[PeriodMetric], reads_of: Callable[[], PeriodReads],
                ) -> dict[int, Mapping[str, PeriodValue]]:
    """Row id → the values computed for it (one call per distinct function)."""
    if grouping in PERIOD_GROUPINGS:
        reads = reads_of()
        periods = {id(r): row_period(r["key"], grouping, read, reads) for r in rows}
        wanted = list({p.key: p for p in periods.values() if p is not None}.values())
        by_period: dict[str, dict[str, PeriodValue]] = {}
        for fn in {id(m.compute): m.compute for m in metrics}.values():
            for key, vals in fn(reads, wanted).items():
                by_period.setdefault(key, {}).update(vals)
        return {i: by_period.get(p.key, {}) for i, p in periods.items() if p is not None}
    group_fns: dict[int, GroupCompute] = {id(m.by_group): m.by_group for m in metrics
                                           if grouping in m.groupings and m.by_group is not None}
    if grouping is None or not group_fns:
        return {}
    reads = reads_of()
    by_key: dict[object, dict[str, PeriodValue]] = {}
    for group_fn in group_fns.values():
        for group, vals in group_fn(reads, grouping, read).items():
            by_key.setdefault(group, {}).update(vals)
    # only the metrics declaring the grouping: the others stay None
    names = {m.name for m in metrics if grouping in m.groupings}
    return {id(r): {n: v for n, v in by_key.get(r["key"], {}).items() if n in names} for r in rows}


__all__ = ["PERIOD_GROUPINGS", "GroupCompute", "PeriodCompute", "PeriodMetric", "PeriodReads", "fill",
           "split_names"]
