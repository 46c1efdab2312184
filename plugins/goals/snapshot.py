"""One read of a tenant's deals, facts and roster, for evaluating many goals (the figures of
goal types that attribute deals to a day other than the KPI day)."""

from __future__ import annotations

import datetime as dt
import logging
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from typing import Any

from attain.core import Dimensions, Engine, Metric, kpi_rows, utc_day
from attain.core.kpi import Fact
from attain.core.models import DealEvent

from .model import (
    takes_facts,
)

log = logging.getLogger("attain.goals")


class Snapshot:
    """One read of a tenant's deals, facts and roster, for evaluating many goals.

    Figures come from the core's pure :func:`attain.core.kpi.kpi_rows` (the function behind
    :meth:`Engine.kpis_where`) over these in-memory snapshots, so they agree with the engine's.
    :meth:`kpis_where` narrowed to a day range only passes the deals whose day (per ``date_of``)
    and the facts whose UTC day is in the range, found by bisection in sorted indexes (the
    predicate still decides).
    """

    def __init__(self, engine: Engine, tenant: str) -> None:
        self.engine = engine
        self.tenant = tenant
        self._deals: list[DealEvent] | None = None
        self._dims: Dimensions | None = None
        self._contribute: Any = None
        self._index: dict[Any, tuple[list[dt.date], list[DealEvent]]] = {}
        self._facts: tuple[list[dt.date], list[Fact]] | None = None

    def all_deals(self) -> list[DealEvent]:
        if self._deals is None:
            self._deals = list(self.engine.deals(self.tenant))
        return self._deals

    def deals_between(self, date_of: Callable[[DealEvent], dt.date | None], start: dt.date,
                      end: dt.date) -> list[DealEvent]:
        if date_of not in self._index:
            dated = sorted(((d, x) for x in self.all_deals()
                            if (d := date_of(x)) is not None), key=lambda t: t[0])
            self._index[date_of] = ([d for d, _ in dated], [x for _, x in dated])
        days, deals = self._index[date_of]
        return deals[bisect_left(days, start):bisect_right(days, end)]

    def _fact_index(self) -> tuple[list[dt.date], list[Fact]]:
        if self._facts is None:
            dated = sorted(((utc_day(f.occurred_at), f) for f in self.engine.facts(self.tenant)),
                           key=lambda t: t[0])
            self._facts = ([d for d, _ in dated], [f for _, f in dated])
        return self._facts

    def all_facts(self) -> list[Fact]:
        return self._fact_index()[1]

    def fact_days(self) -> list[dt.date]:
        """The UTC days of :meth:`all_facts`, sorted."""
        return self._fact_index()[0]

    def facts_between(self, start: dt.date, end: dt.date) -> list[Fact]:
        days, facts = self._fact_index()
        return facts[bisect_left(days, start):bisect_right(days, end)]

    def dimensions(self) -> Dimensions:
        if self._dims is None:
            self._dims = self.engine.dimensions(self.tenant)
        return self._dims

    def kpis_where(self, grouping: str, where: Callable[[Any], bool], metric: Metric,
                   date_of: Callable[[DealEvent], dt.date | None], start: dt.date,
                   end: dt.date) -> list[dict[str, object]]:
        """KPI rows of ``metric`` over the deals and facts of ``start..end`` that ``where``
        keeps."""
        deals = self.deals_between(date_of, start, end) if "deal" in metric.events else ()
        facts = self.facts_between(start, end) if takes_facts(metric) else ()
        if self._contribute is None:  # one read of the tenant's exchange rates per view
            self._contribute = self.engine.contributor(self.tenant)
        return kpi_rows(deals, facts, self.dimensions(), [metric], grouping, where, self._contribute)
