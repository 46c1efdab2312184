"""Multi-currency: a tenant's reporting currency and dated exchange rates, and the one
conversion every money figure uses (KPIs and commissions).

A rate is *units of the reporting currency per unit* of a currency, from its date until the
next rate of that currency. A deal converts at the rate of its ``closed_on`` (an open deal, or a
deal without a close date, at the currency's latest rate); the converted amount is rounded
half-even to cents, once per deal. An amount in the reporting currency is taken as it is. An
amount with no applicable rate (no rate for the currency, or only rates dated after the close)
is *unconverted*: it is never summed into a money figure (it is counted instead), and the event
log keeps the original amount.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from .models import DealEvent

DEFAULT_CURRENCY = "USD"
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Rates:
    """A tenant's reporting currency and its rates: currency → sorted (day, rate)."""

    reporting: str = DEFAULT_CURRENCY
    table: Mapping[str, tuple[tuple[dt.date, Decimal], ...]] = field(default_factory=dict)

    @staticmethod
    def of(reporting: str, rows: Iterable[tuple[str, dt.date, Decimal]]) -> Rates:
        by: dict[str, dict[dt.date, Decimal]] = {}
        for cur, day, rate in rows:
            by.setdefault(cur, {})[day] = rate
        return Rates(reporting, {c: tuple(sorted(d.items())) for c, d in by.items()})

    def rate(self, currency: str, day: dt.date | None) -> Decimal | None:
        """The rate of ``currency`` on ``day`` (None: the latest), or None without one."""
        if currency == self.reporting:
            return Decimal(1)
        series = self.table.get(currency)
        if not series:
            return None
        if day is None:
            return series[-1][1]
        i = bisect_right([d for d, _ in series], day)
        return None if i == 0 else series[i - 1][1]

    def convert(self, amount: Decimal, currency: str, day: dt.date | None) -> Decimal | None:
        """``amount`` in the reporting currency (half-even to cents), or None without a rate."""
        if currency == self.reporting:
            return amount
        r = self.rate(currency, day)
        return None if r is None else (amount * r).quantize(CENT, rounding=ROUND_HALF_EVEN)

    def generation(self) -> str:
        """A digest of the currency and every rate: stored KPI components were computed with it."""
        text = self.reporting + "|" + "|".join(
            f"{c}:{d.isoformat()}={r}" for c in sorted(self.table) for d, r in self.table[c])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


NO_RATES = Rates()
FX_COLUMNS = ("date", "currency", "rate")


def parse_fx_csv(text: str, name: str = "fx.csv") -> list[tuple[str, dt.date, Decimal]]:
    """``(currency, day, rate)`` rows of a CSV file with the columns date, currency, rate
    (any order; rate > 0). Raises ValueError naming the file, line and field of the first
    problem: rates are reference data, imported whole or not at all."""
    import csv
    import io
    import re

    reader = csv.DictReader(io.StringIO(text))
    header = [c.strip() for c in reader.fieldnames or []]
    missing = [c for c in FX_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{name}: missing column {', '.join(missing)} (the columns are date, currency, rate)")
    out = []
    for line, row in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        cur = row["currency"]
        if not re.fullmatch(r"[A-Z]{3}", cur):
            raise ValueError(f"{name}:{line}: currency {cur!r} is not a 3-letter code (EUR)")
        try:
            day = dt.date.fromisoformat(row["date"])
        except ValueError:
            raise ValueError(f"{name}:{line}: date {row['date']!r} is not YYYY-MM-DD") from None
        try:
            rate = Decimal(row["rate"])
        except ArithmeticError:
            raise ValueError(f"{name}:{line}: rate {row['rate']!r} is not a number") from None
        if not rate.is_finite() or rate <= 0:
            raise ValueError(f"{name}:{line}: rate {row['rate']!r} must be a positive number")
        out.append((cur, day, rate))
    return out


def convert_deal(deal: DealEvent, rates: Rates) -> tuple[DealEvent, str | None]:
    """The snapshot with its amount in the reporting currency, and the currency whose amount
    could not be converted (then the returned snapshot has no amount), else None."""
    if deal.currency == rates.reporting:
        return deal, None
    if deal.amount is None:
        return deal.model_copy(update={"currency": rates.reporting}), None
    converted = rates.convert(deal.amount, deal.currency, deal.closed_on)
    if converted is None:
        return deal.model_copy(update={"amount": None}), deal.currency
    return deal.model_copy(update={"amount": converted, "currency": rates.reporting}), None


def convert_fact(event: Any, rates: Rates) -> tuple[Any, str | None]:
    """A fact with an ``amount`` and a ``currency`` (a cost, a customer event) converted at the
    rate of its UTC day, as :func:`convert_deal` converts a deal."""
    from .periods import utc_day

    if event.amount is None:
        return event.model_copy(update={"currency": rates.reporting}), None
    converted = rates.convert(event.amount, event.currency, utc_day(event.occurred_at))
    if converted is None:
        return event, event.currency
    return event.model_copy(update={"amount": converted, "currency": rates.reporting}), None


def unconverted_counts(cells: Iterable[Mapping[str, Decimal]]) -> dict[tuple[str, str], int]:
    """(event type, currency) → events left out for want of a rate, from KPI components
    (``core:unconverted:<CUR>`` for deals, ``core:unconverted_<type>:<CUR>`` for facts)."""
    out: dict[tuple[str, str], int] = {}
    for comps in cells:
        for k, v in comps.items():
            if k.startswith("core:unconverted") and v:
                what, _, cur = k.partition(":")[2].partition(":")
                key = ("deal" if what == "unconverted" else what[len("unconverted_"):], cur)
                out[key] = out.get(key, 0) + int(v)
    return {k: n for k, n in sorted(out.items()) if n}


__all__ = ["DEFAULT_CURRENCY", "NO_RATES", "Rates", "convert_deal", "convert_fact", "parse_fx_csv",
           "unconverted_counts"]
