"""The ``kpis`` plugin's metrics: additive components of one event, and the figures computed
from their sums over a group (see docs/kpis.md for every definition).

Every ``contribute`` here is pure (it reads one event), so these metrics are exact,
order-independent and live in the embedded runner and the stream worker like the core's, and
any of them can be a goal's metric. Rates are fractions rounded half-even to 4 decimals, money
is exact (ratios of money to cents), hours exact to 2 decimals.

Figures that need state across events (new customers: an account's *first* won deal; active
customers and headcount at a period's start) are not sums of one event's parts: they are
computed over the stored snapshots and facts by :mod:`.economics`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from attain.core import Metric, quantize
from attain.core.models import (
    ActivityEvent,
    CostEvent,
    CustomerEvent,
    DealEvent,
    LeadEvent,
    RepEvent,
)

ZERO = Decimal(0)
SIXTY = Decimal(60)

Sums = Mapping[str, Decimal]


def deal_contribution(deal: DealEvent) -> dict[str, Decimal | int]:
    """Marketing-sourced won revenue, won deals, open deals and pipeline of one snapshot (the
    figures that also need all won revenue, open and closed deals and cycles read the core's
    components: ``Metric.reads_core``).

    A deal is marketing-sourced when it carries a ``lead_source``: its own or, without one, the
    source of the lead that converted into it (the core fills it in before any metric sees the
    snapshot: :mod:`attain.core.leadlinks`)."""
    if not deal.lead_source:
        return {}
    if deal.status == "won":
        return {"ms_won_revenue": deal.amount or ZERO, "ms_won": 1}
    if deal.status == "open":
        out: dict[str, Decimal | int] = {"ms_open": 1}
        if deal.amount is not None:
            out["ms_pipeline"] = deal.amount
        return out
    return {}


LEAD_PARTS = {"mql": "mqls", "sal": "sals", "sql": "sqls", "converted": "converted",
              "disqualified": "disqualified"}
ENABLEMENT = {"coaching": "coaching", "training": "training", "call_review": "call_review"}


def fact_contribution(event: Any) -> dict[str, Decimal | int]:
    """Components of one fact (lead, enablement activity, cost, customer or rep event)."""
    if isinstance(event, LeadEvent):
        part = LEAD_PARTS.get(event.kind)
        return {} if part is None else {part: 1}
    if isinstance(event, ActivityEvent):
        kind = ENABLEMENT.get(event.kind)
        if kind is None:
            return {}
        return {f"{kind}_sessions": 1, f"{kind}_minutes": event.duration_minutes or 0}
    if isinstance(event, CostEvent):
        return {f"cost_{event.category}": event.amount}
    if isinstance(event, CustomerEvent):
        out: dict[str, Decimal | int] = {event.kind: 1}  # churned / renewed
        if event.amount is not None:
            out[f"{event.kind}_amount"] = event.amount
        return out
    if isinstance(event, RepEvent):
        return {event.kind: 1}  # hired / left / role_change
    return {}


def contribute(event: Any) -> dict[str, Decimal | int]:
    """The plugin's one ``contribute``: every metric here passes it, so it runs once per event
    and its components are counted once (two functions returning the same component would sum
    it twice)."""
    if isinstance(event, DealEvent):
        return deal_contribution(event)
    return fact_contribution(event)


def _get(name: str) -> Callable[[Sums], Decimal]:
    return lambda s: s.get(name, ZERO)


def _rate(num: str, den: str | tuple[str, ...]) -> Callable[[Sums], Decimal | None]:
    dens = (den,) if isinstance(den, str) else den

    def compute(s: Sums) -> Decimal | None:
        d = sum((s.get(x, ZERO) for x in dens), ZERO)
        return None if d == 0 else quantize(s.get(num, ZERO) / d, 4)
    return compute


def _hours(kind: str) -> Callable[[Sums], Decimal]:
    return lambda s: quantize(s.get(f"{kind}_minutes", ZERO) / SIXTY, 2) or ZERO


def _sales_and_marketing(s: Sums) -> Decimal:
    return s.get("cost_sales", ZERO) + s.get("cost_marketing", ZERO)


def _total_cost(s: Sums) -> Decimal:
    return s.get("cost_sales", ZERO) + s.get("cost_marketing", ZERO) + s.get("cost_other", ZERO)


def _sales_velocity(s: Sums) -> Decimal | None:
    """open × win rate × average deal size ÷ average cycle days, from the core's exact sums:
    open × (won ÷ closed) × (revenue ÷ won) ÷ (cycle_days ÷ cycle_n)
    = open × revenue × cycle_n ÷ (closed × cycle_days)."""
    won = s.get("core:won", ZERO)
    closed = won + s.get("core:lost", ZERO)
    days, n = s.get("core:cycle_days", ZERO), s.get("core:cycle_n", ZERO)
    if closed == 0 or days == 0 or n == 0 or won == 0:
        return None
    return quantize(s.get("core:open", ZERO) * s.get("core:won_revenue", ZERO) * n
                    / (closed * days), 2)


def _marketing_roi(s: Sums) -> Decimal | None:
    cost = s.get("cost_marketing", ZERO)
    return None if cost == 0 else quantize(s.get("ms_won_revenue", ZERO) / cost, 4)


D = ("deal",)

METRICS: tuple[Metric, ...] = (
    # -- lead funnel (lead events counted on their UTC day) --
    Metric("mql_to_sal_rate", "SAL lead events ÷ MQL lead events in the group; 4 decimals",
           contribute, _rate("sals", "mqls"), "ratio", events=("lead",)),
    Metric("sal_to_sql_rate", "SQL lead events ÷ SAL lead events in the group; 4 decimals",
           contribute, _rate("sqls", "sals"), "ratio", events=("lead",)),
    Metric("sql_to_converted_rate", "converted lead events ÷ SQL lead events; 4 decimals",
           contribute, _rate("converted", "sqls"), "ratio", events=("lead",)),
    Metric("lead_disqualification_rate",
           "disqualified lead events ÷ (converted + disqualified); 4 decimals",
           contribute, _rate("disqualified", ("converted", "disqualified")), "ratio",
           events=("lead",)),
    # -- marketing attribution (deal snapshots; marketing-sourced = the deal has lead_source,
    #    its own or its converted lead's source) --
    Metric("marketing_sourced_revenue", "Σ amount of won deals that carry a lead_source (their "
           "own or their converted lead's source)",
           contribute, _get("ms_won_revenue"), "money", events=D),
    Metric("marketing_sourced_deals", "number of won deals that carry a lead_source",
           contribute, _get("ms_won"), "count", events=D),
    Metric("marketing_sourced_pipeline", "Σ amount of open deals that carry a lead_source",
           contribute, _get("ms_pipeline"), "money", events=D),
    Metric("marketing_sourced_share",
           "marketing_sourced_revenue ÷ won revenue; null without won revenue; 4 decimals",
           contribute, _rate("ms_won_revenue", "core:won_revenue"), "ratio", events=D,
           reads_core=True),
    # -- sales velocity (its four inputs are the core's open_deals, win_rate, avg_deal_size,
    #    avg_cycle_days over the same deals) --
    Metric("sales_velocity",
           "open deals × win rate × average deal size ÷ average cycle days: expected revenue "
           "per day; null without a won deal with a cycle; cents", contribute, _sales_velocity,
           "money", events=D, reads_core=True),
    # -- costs (cost events, on the UTC day of occurred_at or the first day of their period) --
    Metric("marketing_cost", "Σ amount of marketing cost events", contribute,
           _get("cost_marketing"), "money", events=("cost",)),
    Metric("sales_cost", "Σ amount of sales cost events", contribute,
           _get("cost_sales"), "money", events=("cost",)),
    Metric("total_cost", "Σ amount of every cost event (marketing, sales, other)",
           contribute, _total_cost, "money", events=("cost",)),
    Metric("sales_and_marketing_cost", "Σ amount of sales and marketing cost events (CAC's numerator)",
           contribute, _sales_and_marketing, "money", events=("cost",)),
    Metric("marketing_roi",
           "marketing_sourced_revenue ÷ marketing_cost in the group; null without marketing "
           "cost; 4 decimals", contribute, _marketing_roi, "ratio", events=("deal", "cost")),
    # -- customers (customer events) --
    Metric("churned_customers", "number of customer events of kind churned", contribute,
           _get("churned"), "count", events=("customer",)),
    Metric("renewed_customers", "number of customer events of kind renewed", contribute,
           _get("renewed"), "count", events=("customer",)),
    Metric("churned_revenue", "Σ amount of churned customer events", contribute,
           _get("churned_amount"), "money", events=("customer",)),
    Metric("renewed_revenue", "Σ amount of renewed customer events", contribute,
           _get("renewed_amount"), "money", events=("customer",)),
    Metric("renewal_rate", "renewed ÷ (renewed + churned) customer events: the logo retention "
           "of the customers up for renewal; 4 decimals", contribute,
           _rate("renewed", ("renewed", "churned")), "ratio", events=("customer",)),
    Metric("revenue_retention",
           "renewed_revenue ÷ (renewed_revenue + churned_revenue): the share of the recurring "
           "value up for renewal that stayed; 4 decimals", contribute,
           _rate("renewed_amount", ("renewed_amount", "churned_amount")), "ratio",
           events=("customer",)),
    # -- enablement (activities of kind coaching, training, call_review; owner = the rep) --
    Metric("coaching_hours", "Σ duration_minutes ÷ 60 of coaching activities; 2 decimals",
           contribute, _hours("coaching"), "number", events=("activity",)),
    Metric("training_hours", "Σ duration_minutes ÷ 60 of training activities; 2 decimals",
           contribute, _hours("training"), "number", events=("activity",)),
    Metric("call_review_hours", "Σ duration_minutes ÷ 60 of call_review activities; 2 decimals",
           contribute, _hours("call_review"), "number", events=("activity",)),
    Metric("coaching_sessions", "number of coaching activities", contribute,
           _get("coaching_sessions"), "count", events=("activity",)),
    # -- team (rep lifecycle events) --
    Metric("reps_hired", "number of rep events of kind hired", contribute,
           _get("hired"), "count", events=("rep",)),
    Metric("reps_left", "number of rep events of kind left", contribute,
           _get("left"), "count", events=("rep",)),
)

# a table for people cannot hold every figure: these are in `attain kpi --format json|csv`
METRICS = tuple(dataclasses.replace(m, in_table=False) for m in METRICS)

__all__ = ["METRICS", "contribute", "deal_contribution", "fact_contribution"]
