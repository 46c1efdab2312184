"""Helpers of the goals tests (imported by conftest.py and the tests)."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from attain.core import cli as cli_module
from testkit import Cli


@dataclass(frozen=True)
class CsvDeal:
    id: str
    rep: str
    stage: str
    engaged: dt.date | None
    closed: dt.date | None
    value: Decimal | None


@dataclass(frozen=True)
class CsvData:
    deals: list[CsvDeal]
    teams: dict[str, tuple[str, str]]  # rep -> (manager, region)

    def won(self, start: dt.date, end: dt.date, reps: set[str] | None = None) -> Decimal:
        return sum((d.value or Decimal(0) for d in self.deals
                    if d.stage == "Won" and d.closed and start <= d.closed <= end
                    and (reps is None or d.rep in reps)), Decimal(0))

    def reps_of(self, kind: str, name: str) -> set[str]:
        idx = 0 if kind == "manager" else 1
        return {r for r, t in self.teams.items() if t[idx] == name}


def parse_date(v: str) -> dt.date | None:
    return dt.date.fromisoformat(v) if v.strip() else None


def won_event(n: int, owner: str, day: dt.date, amount: int,
              tenant: str | None = None) -> dict[str, Any]:
    """A won deal event (deal ``d<n>``, engaged 2017-06-01) closing on ``day``."""
    ev: dict[str, Any] = {
        "type": "deal", "event_id": f"e{n}", "deal_id": f"d{n}", "version": 1, "owner": owner,
        "stage": "Won", "status": "won", "amount": amount, "engaged_on": "2017-06-01",
        "closed_on": day.isoformat(), "occurred_at": f"{day.isoformat()}T12:00:00Z"}
    if tenant is not None:
        ev["tenant"] = tenant
    return ev


def require_example_kpi(svc: Any) -> Any:
    """The example plugin's ``big_deal_count`` KPI (examples/attain-example-kpi, installed by
    scripts/test); a missing install fails the test, it never skips it."""
    m = svc.metrics().get("big_deal_count")
    if m is None:
        pytest.fail("the example plugin is not installed: run `.venv/bin/pip install -e "
                    "examples/attain-example-kpi`", pytrace=False)
    assert m.plugin == "big_deals" and m.unit == "count"
    return m


@functools.cache
def full_app() -> Any:
    """The ``attain`` app with every command (built once: registering adds commands)."""
    return cli_module.build_app()


class GoalsCli(Cli):
    """``attain --db URL …`` in-process, with the plugins' commands registered."""

    def __init__(self, url: str) -> None:
        super().__init__(url, full_app())
        self.url = url
