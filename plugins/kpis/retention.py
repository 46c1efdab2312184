"""Net and gross revenue retention of a period from the deals and customer events that exist.

An account's **recurring value** at the end of a day: the amount of its latest ``renewed``
customer event up to that day (a ``churned`` one: 0), plus the won deals it closed after that
event's UTC day (every won deal when it has no customer event) up to that day. A renewal thus
sets the value (a renewal without an amount keeps the value the account had), a won deal adds
to it (an upsell), a churn ends it. Customer events are ordered by ``occurred_at`` (UTC), then
``event_id``; a deal closed on the day of a customer event is taken as part of it.

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
    """One account's won deals and customer events, in time order."""

    def __init__(self) -> None:
        self.deals: list[tuple[dt.date, Decimal]] = []
        self.events: list[tuple[dt.datetime, str, CustomerEvent]] = []

    def value(self, day: dt.date) -> Decimal:
        """The recurring value at the end of ``day``."""
        value, since = ZERO, None
        for at, _, ev in sorted(self.events, key=lambda t: (t[0], t[1])):
            if at.date() > day:
                break
            if ev.kind == "churned":
                value = ZERO
            elif ev.amount is not None:
                value = ev.amount
            else:  # renewed at the value the account had
                value += sum((a for d, a in self.deals if (since is None or d > since) and d <= at.date()), ZERO)
            since = at.date()
        return value + sum((a for d, a in self.deals if (since is None or d > since) and d <= day), ZERO)


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
