"""Deal facts from deal events, independent of the order the events arrive in.

The book keeps every version of every deal (events are change-data-capture snapshots). A deal's
fact is derived from the set of versions alone:

* its *won* snapshot is the highest version whose status is ``won`` (no won version: no fact);
* if a higher version exists, the lowest such version tells when and how the win was reversed
  (``lost`` on its ``closed_on``, or ``reopened`` on the day it occurred).

Replaying, duplicating or reordering events therefore gives the same facts, hence the same
statements.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal

from attain.core import Rates
from attain.core.models import AnyEvent, CustomerEvent, DealEvent
from attain.core.periods import utc_day

from .model import DealFact
from .money import ZERO


@dataclass(frozen=True, slots=True)
class Snap:
    version: int
    status: str
    owner: str
    amount: Decimal | None
    closed_on: dt.date | None
    occurred_on: dt.date
    product: str | None
    account: str | None
    engaged_on: dt.date | None
    deal_type: str | None
    currency: str = "USD"


#: the day an event counts on: its UTC calendar day (the core's one rule)
day_of = utc_day


def snap_of(e: DealEvent) -> Snap:
    return Snap(e.version, e.status, e.owner, e.amount, e.closed_on, day_of(e.occurred_at),
                e.product, e.account, e.engaged_on, getattr(e, "deal_type", None), e.currency)


class FactBook:
    """Every deal's versions, and churned accounts; derives :class:`DealFact` objects.

    With ``rates`` (the tenant's, :meth:`attain.core.Engine.rates`), a won deal's amount is
    converted to the reporting currency exactly as the KPIs convert it (at the rate of its
    ``closed_on``, half-even to cents); a won deal whose currency has no rate then has no fact
    (it earns nothing until a rate exists) and is counted in :attr:`unconverted`."""

    def __init__(self, series_of: Mapping[str, str | None] | None = None,
                 rates: Rates | None = None) -> None:
        self.series_of: dict[str, str | None] = dict(series_of or {})
        self.rates = rates
        self.unconverted: dict[str, str] = {}  # deal id → currency
        self.versions: dict[str, dict[int, Snap]] = {}
        self.churns: set[tuple[str, dt.date]] = set()

    def add(self, deal_id: str, snap: Snap) -> bool:
        """Record a version; False if that version was already known (first one wins)."""
        vs = self.versions.setdefault(deal_id, {})
        if snap.version in vs:
            return False
        vs[snap.version] = snap
        return True

    def apply(self, event: AnyEvent) -> tuple[str, str] | None:
        """Fold one event in; returns ``("deal", id)`` / ``("churn", account)`` if it changed."""
        if isinstance(event, DealEvent):
            return ("deal", event.deal_id) if self.add(event.deal_id, snap_of(event)) else None
        if isinstance(event, CustomerEvent) and event.kind == "churned":
            key = (event.account, day_of(event.occurred_at))
            if key in self.churns:
                return None
            self.churns.add(key)
            return ("churn", event.account)
        return None

    def fact(self, deal_id: str) -> DealFact | None:
        vs = self.versions.get(deal_id)
        if not vs:
            return None
        won = [v for v, s in vs.items() if s.status == "won"]
        if not won:
            return None
        w = max(won)
        s = vs[w]
        later = [v for v in vs if v > w]
        reversed_on = None
        reversal = None
        if later:
            n = vs[min(later)]
            if n.status == "lost":
                reversal = "lost"
                reversed_on = n.closed_on or n.occurred_on
            else:
                reversal = "reopened"
                reversed_on = n.occurred_on
        amount = s.amount if s.amount is not None else ZERO
        if self.rates is not None and s.currency != self.rates.reporting:
            converted = self.rates.convert(amount, s.currency, s.closed_on or s.occurred_on)
            if converted is None:
                self.unconverted[deal_id] = s.currency
                return None
            amount = converted
        self.unconverted.pop(deal_id, None)
        return DealFact(
            deal_id=deal_id, owner=s.owner, amount=amount,
            closed_on=s.closed_on or s.occurred_on, product=s.product,
            series=self.series_of.get(s.product) if s.product else None, account=s.account,
            engaged_on=s.engaged_on, deal_type=s.deal_type, reversed_on=reversed_on,
            reversal=reversal,
        )

    def facts(self) -> Iterator[DealFact]:
        for deal_id in self.versions:
            f = self.fact(deal_id)
            if f is not None:
                yield f
