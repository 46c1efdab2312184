"""Helpers of the forecast tests."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from attain.core import cli as cli_module
from testkit import Cli

DATA = Path(__file__).resolve().parents[2] / "core" / "data" / "crm-sales-opportunities"
D = Decimal


@dataclass(frozen=True)
class CsvDeal:
    id: str
    rep: str
    manager: str | None
    product: str
    account: str
    stage: str
    engaged: dt.date | None
    closed: dt.date | None
    value: str | None

    @property
    def amount(self) -> Decimal:
        return D(self.value or 0)


def parse_date(v: str) -> dt.date | None:
    return dt.date.fromisoformat(v) if v.strip() else None


@functools.cache
def full_app() -> Any:
    return cli_module.build_app()


class ForecastCli(Cli):
    def __init__(self, url: str) -> None:
        super().__init__(url, full_app())
        self.url = url


def monthly_won(deals: list[CsvDeal]) -> dict[str, Decimal]:
    """Won revenue per month (YYYY-MM) from the CSV."""
    out: dict[str, Decimal] = {}
    for d in deals:
        if d.stage == "Won" and d.closed:
            key = d.closed.strftime("%Y-%m")
            out[key] = out.get(key, D(0)) + d.amount
    return dict(sorted(out.items()))
