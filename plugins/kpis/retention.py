"""Net and gross revenue retention of a period from the deals and customer events that exist.

An account's **recurring value** at the end of a day is folded from its history in time order:
a won deal (on its ``closed_on``) adds its amount (a new contract or an upsell); a ``renewed``
customer event sets the value to its amount (one without an amount keeps the value); a
``churned`` one removes its amount (the recurring value lost, down to 0), or everything when it
has none. On one day the won deals come first, then the customer events by ``occurred_at``
(UTC), then ``event_id``.

Over a period P, the cohort is the accounts with a recurring value above 0 at the end of the
day before P starts (the starting recurring revenue, SRR); at P's last day each has a value V1:
0 is churn (its starting value), below the start contraction, above it expansion. NRR = (SRR +
expansion − contraction − churn) ÷ SRR = Σ V1 ÷ SRR; GRR = (SRR − contraction − churn) ÷ SRR.
Accounts that became customers in P are not in the cohort. Pure functions: order-independent.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from attain.core import Period, quantize
from attain.core.models import CustomerEvent, DealEvent
from attain.core.periods import naive_utc

ZERO = Decimal(0)


class Account:
    """One account's won deals and customer events."""

    def __init__(self) -> None:
        self.deals: list[tuple[dt.date, Decimal]] = []
        self.events: list[tuple[dt.datetime, str, CustomerEvent]] = []

    def value(self, day: dt.date) -> Decimal:
        """The recurring value at the end of ``day``: the day's won deals, then its customer
        events (by ``occurred_at``, then ``event_id``), folded in time order."""
        timeline: list[tuple[dt.date, int, dt.datetime, str, Any]] = [
            (d, 0, dt.datetime.min, "", a) for d, a in self.deals if d <= day]
        timeline += [(at.date(), 1, at, eid, ev) for at, eid, ev in self.events if at.date() <= day]
        value = ZERO
        for _, is_event, _, _, x in sorted(timeline, key=lambda t: t[:4]):
            if not is_event:
                value += x
            elif x.kind == "renewed":
                value = value if x.amount is None else x.amount
            else:  # churned: the value lost, or everything without an amount
                value = ZERO if x.amount is None else max(value - x.amount, ZERO)
        return value


def accounts(deals: Iterable[DealEvent], customers: Iterable[CustomerEvent]) -> dict[str, Account]:
    out: dict[str, Account] = defaultdict(Account)
    for d in deals:
        if d.status == "won" and d.account and d.closed_on is not None:
            out[d.account].deals.append((d.closed_on, d.amount or ZERO))
    for c in customers:
        out[c.account].events.append((naive_utc(c.occurred_at), c.event_id, c))
    return dict(out)


def retention_figures(deals: Iterable[DealEvent], customers: Iterable[CustomerEvent],
                      p: Period) -> dict[str, Any]:
    """SRR, expansion, contraction, churned recurring revenue, NRR and GRR of ``p``."""
    before = p.start - dt.timedelta(days=1)
    srr = expansion = contraction = churn = ZERO
    for acc in accounts(deals, customers).values():
        v0 = acc.value(before)
        if v0 <= 0:
            continue
        v1 = acc.value(p.end)
        srr += v0
        if v1 == 0:
            churn += v0
        elif v1 < v0:
            contraction += v0 - v1
        else:
            expansion += v1 - v0
    def rate(x: Decimal) -> Decimal | None:
        return None if srr == 0 else quantize(x / srr, 4)

    return {"starting_recurring_revenue": srr, "expansion_revenue": expansion,
            "contraction_revenue": contraction, "churned_recurring_revenue": churn,
            "net_revenue_retention": rate(srr + expansion - contraction - churn),
            "gross_revenue_retention": rate(srr - contraction - churn)}


__all__ = ["Account", "accounts", "retention_figures"]
