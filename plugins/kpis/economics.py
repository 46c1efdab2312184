"""Figures that need state across events: customers (an account's first won deal), churn
over the customers active at a period's start, CAC, LTV, headcount, tenure and turnover, and
the lead → deal join (a converted lead's ``deal_id``).

Pure functions over one tenant's latest deal snapshots and its facts (each event id once), so
every figure is exact and independent of the order events arrived in: :func:`economics` is what
``attain economics`` prints. The definitions are in docs/kpis.md ("State across events").
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from attain.core import Period, Rates, quantize, utc_day
from attain.core.fx import convert_deal, convert_fact
from attain.core.models import CostEvent, CustomerEvent, DealEvent, LeadEvent, RepEvent

from .retention import retention_figures

ZERO = Decimal(0)


def _rate(num: Decimal | int, den: Decimal | int, places: int = 4) -> Decimal | None:
    return None if den == 0 else quantize(Decimal(num) / Decimal(den), places)


@dataclass
class Inputs:
    """What the figures are computed from: latest snapshots and the facts they need."""

    deals: list[DealEvent]
    customers: list[CustomerEvent]
    costs: list[CostEvent]
    reps: list[RepEvent]
    leads: list[LeadEvent]

    unconverted: int = 0
    #: customer events whose amount has no rate: left out of the retention figures
    unpriced: set[str] = field(default_factory=set)

    @staticmethod
    def of(deals: Iterable[DealEvent], facts: Iterable[Any], rates: Rates | None = None) -> Inputs:
        """With ``rates``, amounts in the reporting currency (the KPIs' conversion); a deal or
        cost whose amount has no rate keeps no amount (deal) or is left out (cost); a customer
        event without one still counts for churn, not for revenue retention; counted."""
        inp = Inputs([], [], [], [], [])
        for d in deals:
            if rates is not None and d.currency != rates.reporting:
                d, missing = convert_deal(d, rates)
                inp.unconverted += missing is not None
            inp.deals.append(d)
        for f in facts:
            if isinstance(f, CustomerEvent):
                if rates is not None and f.currency != rates.reporting and f.amount is not None:
                    f, missing = convert_fact(f, rates)
                    if missing is not None:  # still a churn for churn rates; no value for NRR
                        inp.unconverted += 1
                        inp.unpriced.add(f.event_id)
                inp.customers.append(f)
            elif isinstance(f, CostEvent):
                if rates is not None and f.currency != rates.reporting:
                    f, missing = convert_fact(f, rates)
                    if missing is not None:
                        inp.unconverted += 1
                        continue
                inp.costs.append(f)
            elif isinstance(f, RepEvent):
                inp.reps.append(f)
            elif isinstance(f, LeadEvent):
                inp.leads.append(f)
        return inp


def first_won(deals: Iterable[DealEvent]) -> dict[str, dt.date]:
    """Each account's first won deal's ``closed_on`` (its day as a new customer)."""
    out: dict[str, dt.date] = {}
    for d in deals:
        if d.status == "won" and d.account and d.closed_on is not None:
            if d.account not in out or d.closed_on < out[d.account]:
                out[d.account] = d.closed_on
    return out


def churn_days(customers: Iterable[CustomerEvent]) -> dict[str, dt.date]:
    """Each account's first ``churned`` event's UTC day (a churned account stays churned)."""
    out: dict[str, dt.date] = {}
    for c in customers:
        if c.kind == "churned":
            day = utc_day(c.occurred_at)
            if c.account not in out or day < out[c.account]:
                out[c.account] = day
    return out


def customer_figures(inp: Inputs, p: Period) -> dict[str, Any]:
    won_day = first_won(inp.deals)
    churned = churn_days(inp.customers)

    def active_on(account: str, day: dt.date) -> bool:  # a customer at the start of ``day``
        c = churned.get(account)
        return won_day[account] < day and (c is None or c >= day)

    new = sum(1 for d in won_day.values() if p.contains(d))
    at_start = sum(1 for a in won_day if active_on(a, p.start))
    lost = sum(1 for a, day in churned.items() if p.contains(day) and a in won_day and won_day[a] < day)
    churn_rate = _rate(lost, at_start)
    revenue = sum((d.amount or ZERO for d in inp.deals
                   if d.status == "won" and d.closed_on is not None and p.contains(d.closed_on)), ZERO)
    customers_in_period = at_start + new
    spend = sum((c.amount for c in inp.costs if c.category in ("sales", "marketing")
                 and p.contains(utc_day(c.occurred_at))), ZERO)
    cac = None if new == 0 else spend / new
    per_customer = None if customers_in_period == 0 else revenue / customers_in_period
    # lifetime in periods = 1 / churn rate, so LTV = revenue per customer ÷ churn rate; from the
    # exact ratios (at_start / lost), rounded once at the end
    ltv = None if per_customer is None or lost == 0 else per_customer * at_start / lost
    return {
        "new_customers": new, "active_customers_at_start": at_start, "customers_lost": lost,
        "churn_rate": churn_rate, "customer_retention": None if churn_rate is None else 1 - churn_rate,
        "sales_and_marketing_cost": spend, "cac": quantize(cac, 2), "won_revenue": revenue,
        "revenue_per_customer": quantize(per_customer, 2), "ltv": quantize(ltv, 2),
        "ltv_to_cac": None if ltv is None or not cac else quantize(ltv / cac, 4),
    }


def _rep_state(reps: Iterable[RepEvent]) -> dict[str, list[tuple[dt.date, str]]]:
    """Each rep's hired/left events as (UTC day, kind), in day order (hired before left on a day)."""
    out: dict[str, list[tuple[dt.date, str]]] = defaultdict(list)
    for r in reps:
        if r.kind in ("hired", "left"):
            out[r.rep].append((utc_day(r.occurred_at), r.kind))
    for events in out.values():
        events.sort(key=lambda e: (e[0], e[1] != "hired"))
    return out


def _employed(events: list[tuple[dt.date, str]], day: dt.date) -> dt.date | None:
    """The hire day of the stint a rep is in at the end of ``day`` (None: not employed)."""
    hired: dt.date | None = None
    for d, kind in events:
        if d > day:
            break
        hired = d if kind == "hired" else None
    return hired


def team_figures(inp: Inputs, p: Period) -> dict[str, Any]:
    state = _rep_state(inp.reps)
    before = p.start - dt.timedelta(days=1)
    at_start = sum(1 for ev in state.values() if _employed(ev, before) is not None)
    stints = [h for ev in state.values() if (h := _employed(ev, p.end)) is not None]
    left = sum(1 for ev in state.values() for d, k in ev if k == "left" and p.contains(d))
    hired = sum(1 for ev in state.values() for d, k in ev if k == "hired" and p.contains(d))
    avg_headcount = Decimal(at_start + len(stints)) / 2
    tenure = (None if not stints else
              quantize(Decimal(sum((p.end - h).days for h in stints)) / len(stints), 2))
    return {"headcount_at_start": at_start, "headcount": len(stints), "reps_hired": hired,
            "reps_left": left, "rep_turnover_rate": _rate(left, avg_headcount),
            "avg_tenure_days": tenure}


def lead_figures(inp: Inputs, p: Period) -> dict[str, Any]:
    deals = {d.deal_id: d for d in inp.deals}
    by_lead: dict[str, list[LeadEvent]] = defaultdict(list)
    for ev in inp.leads:
        by_lead[ev.lead_id].append(ev)
    sql_leads = won_leads = 0
    days: list[int] = []
    for events in by_lead.values():
        linked = [deals[e.deal_id] for e in events if e.kind == "converted" and e.deal_id in deals]
        won = [d for d in linked if d.status == "won" and d.closed_on is not None]
        if any(e.kind == "sql" and p.contains(utc_day(e.occurred_at)) for e in events):
            sql_leads += 1
            won_leads += bool(won)
        first = min(utc_day(e.occurred_at) for e in events)
        for d in won:
            if d.closed_on is not None and p.contains(d.closed_on):
                days.append((d.closed_on - first).days)
    reasons = Counter(e.reason or "(none)" for e in inp.leads
                      if e.kind == "disqualified" and p.contains(utc_day(e.occurred_at)))
    return {"sql_to_won_rate": _rate(won_leads, sql_leads),
            "lead_to_customer_days": _rate(sum(days), len(days), 2),
            "disqualification_reasons": [{"reason": r, "leads": n}
                                         for r, n in sorted(reasons.items(), key=lambda t: (-t[1], t[0]))]}


def economics(deals: Iterable[DealEvent], facts: Iterable[Any], period: Period,
              rates: Rates | None = None) -> dict[str, Any]:
    """Every state-across-events figure of ``period``, company-wide (money in the reporting
    currency of ``rates``; ``unconverted``: deals and costs without a rate, left out of money)."""
    inp = Inputs.of(deals, facts, rates)
    return {"period": period.key, **customer_figures(inp, period),
            **retention_figures(inp.deals, [c for c in inp.customers if c.event_id not in inp.unpriced],
                                period), **team_figures(inp, period),
            **lead_figures(inp, period), "unconverted": inp.unconverted}


def campaigns(deals: Iterable[DealEvent], facts: Iterable[Any], period: Period,
              rates: Rates | None = None) -> list[dict[str, Any]]:
    """Campaign ROI of ``period``: per campaign, the deals won in it whose ``lead_source`` (their
    own or their converted lead's) is the campaign, their revenue, the marketing cost events of
    the period naming it (``campaign``), and ROI = won revenue ÷ cost (null without cost).
    Sorted by won revenue, then campaign."""
    inp = Inputs.of(deals, facts, rates)
    rows: dict[str, dict[str, Any]] = {}

    def row(name: str) -> dict[str, Any]:
        return rows.setdefault(name, {"campaign": name, "won_deals": 0, "won_revenue": ZERO,
                                      "marketing_cost": ZERO})
    for d in inp.deals:
        if d.status == "won" and d.lead_source and d.closed_on is not None and period.contains(d.closed_on):
            r = row(d.lead_source)
            r["won_deals"] += 1
            r["won_revenue"] += d.amount or ZERO
    for c in inp.costs:
        if c.category == "marketing" and c.campaign and period.contains(utc_day(c.occurred_at)):
            row(c.campaign)["marketing_cost"] += c.amount
    for r in rows.values():
        r["roi"] = _rate(r["won_revenue"], r["marketing_cost"])
    return sorted(rows.values(), key=lambda r: (-r["won_revenue"], r["campaign"]))


__all__ = ["Inputs", "campaigns", "churn_days", "economics", "first_won"]
