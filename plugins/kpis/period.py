"""The ``kpis`` plugin's period metrics: the company figures that need state across events
(new customers, churn, CAC, LTV, headcount, turnover, lead → won), computed per period at read
time from :class:`attain.core.PeriodReads` with the functions of :mod:`.economics` (the ones
``attain economics`` prints), so ``attain kpi`` columns, goals and the report agree.

Definitions: docs/kpis.md ("State across events").
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from attain.core import PeriodMetric

from .economics import Customers, Leads, team_figures

if TYPE_CHECKING:
    from attain.core import Period, PeriodReads

ZERO = Decimal(0)

#: name → (unit, definition)
FIGURES: dict[str, tuple[str, str]] = {
    "new_customers": ("count", "accounts whose first won deal (earliest closed_on) is in the period"),
    "active_customers_at_start": ("count", "accounts whose first won deal closed before the period "
                                           "and that had not churned by its start"),
    "customers_lost": ("count", "customers active at the period's start whose first churned "
                                "event is in it"),
    "churn_rate": ("ratio", "customers_lost ÷ active_customers_at_start; 4 decimals"),
    "customer_retention": ("ratio", "1 − churn_rate"),
    "cac": ("money", "sales and marketing cost of the period ÷ new_customers; cents"),
    "revenue_per_customer": ("money", "won revenue ÷ (active_customers_at_start + new_customers); cents"),
    "ltv": ("money", "revenue_per_customer ÷ churn rate (lifetime = 1 ÷ churn rate, in periods); "
                     "cents; null without churn"),
    "ltv_to_cac": ("ratio", "ltv ÷ cac; 4 decimals"),
    "headcount_at_start": ("count", "reps employed (hired, not left) at the end of the day before "
                                    "the period"),
    "headcount": ("count", "reps employed at the end of the period's last day"),
    "rep_turnover_rate": ("ratio", "reps left in the period ÷ the mean of headcount_at_start and "
                                   "headcount; 4 decimals"),
    "avg_tenure_days": ("days", "mean days from the current stint's hire day to the period's last "
                                "day, over the reps employed then; 2 decimals"),
    "sql_to_won_rate": ("ratio", "leads with an sql event in the period whose converted deal is "
                                 "won ÷ leads with an sql event in it; 4 decimals"),
    "lead_to_customer_days": ("days", "mean days from a lead's first event to the closed_on of the "
                                      "won deal it converted into, over those won in the period"),
}


#: which figures each part of the state gives (a read asking only churn_rate reads no lead)
CUSTOMER_FIGURES = ("new_customers", "active_customers_at_start", "customers_lost", "churn_rate",
                    "customer_retention", "cac", "revenue_per_customer", "ltv", "ltv_to_cac")
TEAM_FIGURES = ("headcount_at_start", "headcount", "rep_turnover_rate", "avg_tenure_days")
LEAD_FIGURES = ("sql_to_won_rate", "lead_to_customer_days")


def customers_of(reads: PeriodReads) -> Customers:
    """The customer state (first won days, churn days, spend), once per state of the tenant."""
    return reads.memo("kpis:customers", lambda: Customers.of(
        reads.first_won_days, reads.facts("customer"), reads.facts("cost")))


def _leads(reads: PeriodReads) -> Leads:
    events = reads.facts("lead")
    linked = {e.deal_id for e in events if e.kind == "converted" and e.deal_id}
    return Leads.of(events, {d.deal_id: d for d in reads.snapshots(linked)} if linked else {})


def customer_compute(reads: PeriodReads, periods: Sequence[Period]) -> Mapping[str, Mapping[str, Any]]:
    """:data:`CUSTOMER_FIGURES` of each period."""
    by_period = customers_of(reads).figures(periods, reads.won_revenue)
    return {key: {n: f[n] for n in CUSTOMER_FIGURES} for key, f in by_period.items()}


def team_compute(reads: PeriodReads, periods: Sequence[Period]) -> Mapping[str, Mapping[str, Any]]:
    """:data:`TEAM_FIGURES` of each period (from the rep events)."""
    reps = reads.memo("kpis:reps", lambda: reads.facts("rep"))
    out = {}
    for p in periods:
        f = team_figures(reps, p)
        out[p.key] = {n: f[n] for n in TEAM_FIGURES}
    return out


def lead_compute(reads: PeriodReads, periods: Sequence[Period]) -> Mapping[str, Mapping[str, Any]]:
    """:data:`LEAD_FIGURES` of each period (the lead events and the deals they converted into)."""
    by_period = reads.memo("kpis:leads", lambda: _leads(reads)).figures(periods)
    return {key: {n: f[n] for n in LEAD_FIGURES} for key, f in by_period.items()}


COMPUTE = {**dict.fromkeys(CUSTOMER_FIGURES, customer_compute), **dict.fromkeys(TEAM_FIGURES, team_compute),
           **dict.fromkeys(LEAD_FIGURES, lead_compute)}
assert set(COMPUTE) == set(FIGURES)


#: the figures whose value over a period is the sum of their values over its parts
ADDITIVE_OVER_TIME = {"new_customers"}

#: the figures with a value per account segment (``attain kpi --by sector``): the customers of
#: the segment's accounts; CAC is the company's (costs carry no segment)
SEGMENT_FIGURES = CUSTOMER_FIGURES


def by_segment(reads: PeriodReads, grouping: str, read: Period | None) -> Mapping[object, Mapping[str, Any]]:
    """The customer figures of the read's period (None: the tenant's span of days) per sector:
    each sector's accounts' first won days and churn days, its won revenue (the core's, per
    sector), the company's CAC."""
    period = read if read is not None else reads.span
    if grouping != "sector" or period is None:
        return {}
    customers = customers_of(reads)
    dims = reads.dimensions
    won: dict[object, dict[str, Any]] = defaultdict(dict)
    churned: dict[object, dict[str, Any]] = defaultdict(dict)
    for a, day in customers.won_day.items():
        won[dims.group_key("sector", ("", "", a, ""))][a] = day
    for a, day in customers.churned.items():
        churned[dims.group_key("sector", ("", "", a, ""))][a] = day
    revenue = reads.won_revenue_by("sector", read)
    out: dict[object, Mapping[str, Any]] = {}
    for key in set(won) | set(revenue):
        part = Customers(won.get(key, {}), churned.get(key, {}), [])
        sector_revenue = revenue.get(key, ZERO)
        f = part.figures([period], lambda p: sector_revenue, customers.cac)[period.key]  # noqa: B023
        out[key] = {name: f[name] for name in SEGMENT_FIGURES}
    return out


PERIOD_METRICS = tuple(PeriodMetric(name, description, COMPUTE[name], unit,  # type: ignore[arg-type]
                                    additive_over_time=name in ADDITIVE_OVER_TIME,
                                    groupings=("sector",) if name in SEGMENT_FIGURES else (),
                                    by_group=by_segment if name in SEGMENT_FIGURES else None)
                       for name, (unit, description) in FIGURES.items())

__all__ = ["CUSTOMER_FIGURES", "FIGURES", "LEAD_FIGURES", "PERIOD_METRICS", "SEGMENT_FIGURES", "TEAM_FIGURES",
           "by_segment", "customer_compute", "lead_compute", "team_compute"]
