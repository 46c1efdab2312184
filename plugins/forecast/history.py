"""The deal history the forecasts learn from, read through the core's public API.

Every deal's stored versions (``Engine.events``) say which stages it went through and when it
entered each (the UTC day of the first version in that stage); its latest snapshot says how it
ended. Deleted deals are left out. ``group`` is the deal's team (the owner's manager), region,
product or rep, from the reference data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from attain.core import DealEvent, Dimensions, Engine, UserError, utc_day

GROUPINGS = ("company", "team", "region", "product", "rep")


@dataclass(slots=True)
class Deal:
    deal_id: str
    owner: str
    product: str | None
    account: str | None
    stage: str
    status: str
    amount: Decimal | None
    engaged_on: dt.date | None
    closed_on: dt.date | None
    #: stage → the day the deal first entered it
    entered: dict[str, dt.date] = field(default_factory=dict)

    def stage_on(self, day: dt.date) -> str | None:
        """The stage the deal was in at the end of ``day`` (None: not yet created)."""
        seen = [(d, s) for s, d in self.entered.items() if d <= day]
        return max(seen)[1] if seen else None


@dataclass
class History:
    deals: list[Deal]
    dims: Dimensions
    #: the last day the data speaks of (latest close, engage or event day)
    as_of: dt.date

    def group_of(self, deal: Deal, grouping: str) -> str:
        if grouping == "company":
            return "company"
        if grouping == "product":
            return deal.product or "(no product)"
        if grouping == "rep":
            return deal.owner
        rep = self.dims.reps.get(deal.owner)
        if grouping == "team":
            return (rep.manager if rep else None) or "(no team)"
        if grouping == "region":
            return (rep.region if rep else None) or "(no region)"
        raise UserError(f"unknown grouping {grouping!r}; use one of: {', '.join(GROUPINGS)}")

    def won(self) -> list[Deal]:
        return [d for d in self.deals if d.status == "won" and d.closed_on and d.amount is not None]


def check_grouping(grouping: str) -> str:
    if grouping not in GROUPINGS:
        raise UserError(f"unknown grouping {grouping!r}; use one of: {', '.join(GROUPINGS)}")
    return grouping


def build(latest: Iterable[DealEvent], versions: Iterable[DealEvent], dims: Dimensions) -> History:
    """The history of the deals whose latest snapshots are ``latest``, their stage entry days
    from every stored version (``versions``)."""
    entered: dict[str, dict[str, dt.date]] = {}
    last_day = dt.date.min
    for ev in versions:
        day = utc_day(ev.occurred_at)
        stages = entered.setdefault(ev.deal_id, {})
        if ev.stage not in stages or day < stages[ev.stage]:
            stages[ev.stage] = day
        last_day = max(last_day, day)
    deals = []
    for ev in latest:
        if ev.status == "deleted":
            continue
        stages = dict(entered.get(ev.deal_id, {}))
        stages.setdefault(ev.stage, utc_day(ev.occurred_at))
        deals.append(Deal(ev.deal_id, ev.owner, ev.product, ev.account, ev.stage, ev.status,
                          ev.amount, ev.engaged_on, ev.closed_on, stages))
        for d in (ev.closed_on, ev.engaged_on):
            if d is not None:
                last_day = max(last_day, d)
    if not deals:
        raise UserError("no deals to forecast from; import some first (attain import …)")
    return History(deals, dims, last_day)


def load(engine: Engine, tenant: str) -> History:
    """The tenant's deal history from the store."""
    versions = (ev for ev in engine.events(tenant, types=["deal"]) if isinstance(ev, DealEvent))
    return build(engine.deals(tenant), versions, engine.dimensions(tenant))
