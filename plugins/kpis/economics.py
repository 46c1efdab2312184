"""Figures that need state across events: customers (an account's first won deal), churn
over the customers active at a period's start, CAC, LTV, headcount, tenure and turnover, and
the lead → deal join (a converted lead's ``deal_id``).

Pure functions over one tenant's latest deal snapshots and its facts (each event id once), so
every figure is exact and independent of the order events arrived in: :func:`economics` is what
``attain economics`` prints. The definitions are in docs/kpis.md ("State across events").
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
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


class Periods:
    """Periods asked together (a time grouping's rows): which of them contain a day, in
    O(log n) when they do not overlap (a grouping's periods never do)."""

    def __init__(self, periods: Sequence[Period]) -> None:
        self.periods = sorted(periods, key=lambda p: (p.start, p.end))
        self.starts = [p.start for p in self.periods]
        self.disjoint = all(a.end < b.start for a, b in zip(self.periods, self.periods[1:], strict=False))

    def of(self, day: dt.date) -> list[int]:
        """The indexes (in :attr:`periods`) of the periods containing ``day``."""
        if self.disjoint:
            i = bisect_right(self.starts, day) - 1
            return [i] if i >= 0 and day <= self.periods[i].end else []
        return [i for i, p in enumerate(self.periods) if p.contains(day)]


@dataclass
class Customers:
    """What the customer figures of any period are computed from: each account's first won day,
    its first churn day, and the sales and marketing spend per UTC day (built once, then asked
    for many periods at once with :meth:`figures`)."""

    won_day: Mapping[str, dt.date]
    churned: dict[str, dt.date]
    spend: list[tuple[dt.date, Decimal]]

    @staticmethod
    def of(won_day: Mapping[str, dt.date], customers: Iterable[CustomerEvent],
           costs: Iterable[CostEvent]) -> Customers:
        return Customers(won_day, churn_days(customers),
                         [(utc_day(c.occurred_at), c.amount) for c in costs
                          if c.category in ("sales", "marketing")])

    def cac(self, p: Period) -> Decimal | None:
        """Sales and marketing cost of ``p`` ÷ its new customers, exact (None without any)."""
        new = sum(1 for d in self.won_day.values() if p.contains(d))
        return None if new == 0 else sum((a for d, a in self.spend if p.contains(d)), ZERO) / new

    def figures(self, periods: Sequence[Period], revenue: Callable[[Period], Decimal],
                cac: Callable[[Period], Decimal | None] | None = None) -> dict[str, dict[str, Any]]:
        """Per period key: new, active and lost customers, churn, CAC and LTV (``revenue``: a
        period's won revenue; ``cac``: a CAC to use instead of this set's own, e.g. the
        company's for an account segment, whose costs carry no segment)."""
        idx = Periods(periods)
        n = len(idx.periods)
        new, lost, spend = [0] * n, [0] * n, [ZERO] * n
        for first in self.won_day.values():
            for i in idx.of(first):
                new[i] += 1
        # a customer at the start of p: first won before it and not churned before it; an
        # account won and churned before p is counted by max(won, churn) < p.start
        won_sorted = sorted(self.won_day.values())
        gone_sorted = sorted(max(self.won_day[a], c) for a, c in self.churned.items()
                             if a in self.won_day)
        for a, c in self.churned.items():
            won = self.won_day.get(a)
            for i in idx.of(c):
                lost[i] += won is not None and won < idx.periods[i].start
        for day, amount in self.spend:
            for i in idx.of(day):
                spend[i] += amount
        out = {}
        for i, p in enumerate(idx.periods):
            at_start = bisect_left(won_sorted, p.start) - bisect_left(gone_sorted, p.start)
            own_cac = None if new[i] == 0 else spend[i] / new[i]
            out[p.key] = self._figures(new[i], at_start, lost[i], spend[i], revenue(p),
                                       own_cac if cac is None else cac(p))
        return out

    @staticmethod
    def _figures(new: int, at_start: int, lost: int, spend: Decimal, revenue: Decimal,
                 cac: Decimal | None) -> dict[str, Any]:
        churn_rate = _rate(lost, at_start)
        customers_in_period = at_start + new
        per_customer = None if customers_in_period == 0 else revenue / customers_in_period
        # lifetime in periods = 1 / churn rate, so LTV = revenue per customer ÷ churn rate; from
        # the exact ratios (at_start / lost), rounded once at the end
        ltv = None if per_customer is None or lost == 0 else per_customer * at_start / lost
        return {
            "new_customers": new, "active_customers_at_start": at_start, "customers_lost": lost,
            "churn_rate": churn_rate,
            "customer_retention": None if churn_rate is None else 1 - churn_rate,
            "sales_and_marketing_cost": spend, "cac": quantize(cac, 2), "won_revenue": revenue,
            "revenue_per_customer": quantize(per_customer, 2), "ltv": quantize(ltv, 2),
            "ltv_to_cac": None if ltv is None or not cac else quantize(ltv / cac, 4),
        }


def won_revenue(deals: Iterable[DealEvent], p: Period) -> Decimal:
    """Σ amount of the deals won (``closed_on``) in ``p`` (the core's ``won_revenue``)."""
    return sum((d.amount or ZERO for d in deals
                if d.status == "won" and d.closed_on is not None and p.contains(d.closed_on)), ZERO)


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


def team_figures(reps: Iterable[RepEvent], p: Period) -> dict[str, Any]:
    state = _rep_state(reps)
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


@dataclass
class Leads:
    """Per lead: the UTC day of its first event, the days of its ``sql`` events and the
    ``closed_on`` of the won deals its ``converted`` events name; the ``disqualified`` events'
    (day, reason). Built once, then asked per period with :meth:`figures`."""

    leads: list[tuple[dt.date, list[dt.date], list[dt.date]]]
    disqualified: list[tuple[dt.date, str]]

    @staticmethod
    def of(leads: Iterable[LeadEvent], deals: Mapping[str, DealEvent]) -> Leads:
        """``deals``: the snapshots of (at least) the deals converted leads name, by id."""
        by_lead: dict[str, list[LeadEvent]] = defaultdict(list)
        disqualified = []
        for ev in leads:
            by_lead[ev.lead_id].append(ev)
            if ev.kind == "disqualified":
                disqualified.append((utc_day(ev.occurred_at), ev.reason or "(none)"))
        out = []
        for events in by_lead.values():
            linked = [deals[e.deal_id] for e in events
                      if e.kind == "converted" and e.deal_id is not None and e.deal_id in deals]
            won = [d.closed_on for d in linked if d.status == "won" and d.closed_on is not None]
            out.append((min(utc_day(e.occurred_at) for e in events),
                        [utc_day(e.occurred_at) for e in events if e.kind == "sql"], won))
        return Leads(out, disqualified)

    def figures(self, periods: Sequence[Period]) -> dict[str, dict[str, Any]]:
        """Per period key: SQL → won, lead → customer days and disqualification reasons."""
        idx = Periods(periods)
        n = len(idx.periods)
        sql_leads, won_leads = [0] * n, [0] * n
        days: list[list[int]] = [[] for _ in range(n)]
        reasons: list[Counter[str]] = [Counter() for _ in range(n)]
        for first, sqls, won in self.leads:
            for i in {i for d in sqls for i in idx.of(d)}:
                sql_leads[i] += 1
                won_leads[i] += bool(won)
            for d in won:
                for i in idx.of(d):
                    days[i].append((d - first).days)
        for d, r in self.disqualified:
            for i in idx.of(d):
                reasons[i][r] += 1
        return {p.key: {
            "sql_to_won_rate": _rate(won_leads[i], sql_leads[i]),
            "lead_to_customer_days": _rate(sum(days[i]), len(days[i]), 2),
            "disqualification_reasons": [
                {"reason": r, "leads": k} for r, k in sorted(reasons[i].items(), key=lambda t: (-t[1], t[0]))]}
            for i, p in enumerate(idx.periods)}


def economics(deals: Iterable[DealEvent], facts: Iterable[Any], period: Period,
              rates: Rates | None = None) -> dict[str, Any]:
    """Every state-across-events figure of ``period``, company-wide (money in the reporting
    currency of ``rates``; ``unconverted``: deals and costs without a rate, left out of money)."""
    inp = Inputs.of(deals, facts, rates)
    return {"period": period.key,
            **Customers.of(first_won(inp.deals), inp.customers, inp.costs).figures(
                [period], lambda p: won_revenue(inp.deals, p))[period.key],
            **retention_figures(inp.deals, [c for c in inp.customers if c.event_id not in inp.unpriced],
                                period), **team_figures(inp.reps, period),
            **Leads.of(inp.leads, {d.deal_id: d for d in inp.deals}).figures([period])[period.key],
            "unconverted": inp.unconverted}


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


__all__ = ["Customers", "Inputs", "Leads", "campaigns", "churn_days", "economics", "first_won",
           "team_figures", "won_revenue"]
