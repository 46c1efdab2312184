"""Helpers for the incentives tests: plain-Python views of the bundled CSV, deal/plan builders
and *independent* payout arithmetic (integer cents and explicit half-even rounding, written
without the plugin's code)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from attain.core.plugins import Plugins

DATA = Path(__file__).resolve().parents[2] / "core" / "data" / "crm-sales-opportunities"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plans"
SERIES = {"GTX Basic": "GTX", "GTX Pro": "GTX", "MG Special": "MG", "MG Advanced": "MG",
          "GTX Plus Pro": "GTX", "GTX Plus Basic": "GTX", "GTK 500": "GTK"}


def make_plugins() -> Plugins:
    """A plugin manager with only the incentives plugin and the CSV connector."""
    from attain.plugins import crm_csv, incentives

    p = Plugins(load_entry_points=False)
    p.distributions["incentives"] = ("attain", "0.1.0")
    p.register(incentives, name="incentives")
    p.register(crm_csv, name="crm_csv")
    return p


def parse_date(s: str) -> dt.date | None:
    s = s.strip()
    return dt.date.fromisoformat(s) if s else None


@dataclass(frozen=True)
class CsvDeal:
    id: str
    agent: str
    product: str
    account: str | None
    stage: str
    engaged: dt.date | None
    closed: dt.date | None
    value: str

    @property
    def product_name(self) -> str:
        return "GTX Pro" if self.product == "GTXPro" else self.product

    @property
    def quarter(self) -> str:
        assert self.closed is not None
        return f"{self.closed.year}-Q{(self.closed.month - 1) // 3 + 1}"


def round_half_even(x: Decimal, places: int) -> Decimal:
    """Half-even rounding to ``places`` decimals done by hand (not Decimal.quantize): the
    test's own oracle."""
    unit = Decimal(10) ** places
    scaled = x * unit
    floor = int(scaled // 1)
    frac = scaled - floor
    if frac > Decimal("0.5") or (frac == Decimal("0.5") and floor % 2 == 1):
        floor += 1
    return Decimal(floor) / unit


def round_half_even_cents(x: Decimal) -> Decimal:
    return round_half_even(x, 2)


def deal_event(deal_id: str, version: int, owner: str, status: str, amount: Any = None,
               closed: str | None = None, product: str | None = None, account: str | None = None,
               occurred: str | None = None, engaged: str | None = None) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "type": "deal", "event_id": f"{deal_id}:v{version}", "deal_id": deal_id,
        "version": version, "owner": owner, "stage": status.title(), "status": status,
        "occurred_at": (occurred or closed or "2017-01-01") + "T12:00:00Z",
    }
    if amount is not None:
        ev["amount"] = str(amount)
    if closed is not None:
        ev["closed_on"] = closed
    if product is not None:
        ev["product"] = product
    if account is not None:
        ev["account"] = account
    if engaged is not None:
        ev["engaged_on"] = engaged
    return ev


def churn_event(account: str, day: str, n: int = 1) -> dict[str, Any]:
    return {"type": "customer", "event_id": f"churn:{account}:{day}:{n}", "account": account,
            "kind": "churned", "occurred_at": f"{day}T09:00:00Z"}
