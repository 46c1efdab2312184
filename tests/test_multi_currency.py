"""Multi-currency (issue 15): a tenant's reporting currency and dated exchange rates; a deal
converts at the rate of its closed_on (open: the latest), half-even to cents; an amount with no
rate is never summed (counted, warned about); importing rates later reconverts every figure.
Expected figures are worked out by hand in the comments."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from attain.core import Engine, Record
from attain.core.fx import Rates, parse_fx_csv
from attain.testing import assert_order_independent
from testkit import Cli


def deal(i: int, currency: str, status: str, amount: str, closed_on: str | None = None,
         **extra: Any) -> dict[str, Any]:
    return {"type": "deal", "event_id": f"e{i}", "deal_id": f"D{i}", "version": 1, "owner": "Ann",
            "stage": status, "status": status, "amount": amount, "currency": currency,
            "closed_on": closed_on, "occurred_at": "2017-01-01T00:00:00Z", **extra}


DEALS = [
    deal(1, "EUR", "won", "1000", "2017-05-10"),    # EUR 1.05 (from 01-01): 1050.00
    deal(2, "EUR", "won", "333.33", "2017-08-01"),  # EUR 1.15 (from 07-01): 383.3295 → 383.33
    deal(3, "GBP", "won", "100.01", "2017-02-15"),  # GBP's first rate is 03-01: unconverted
    deal(4, "GBP", "open", "200"),                  # open: the latest GBP rate 1.25 → 250.00
    deal(5, "USD", "won", "500", "2017-06-01"),     # the reporting currency: as it is
    deal(6, "JPY", "won", "10000", "2017-06-01"),   # no JPY rate at all: unconverted
    deal(7, "EUR", "won", "0.50", "2017-03-01"),    # 0.525 → 0.52 (half-even)
]
RATES = [("EUR", dt.date(2017, 1, 1), Decimal("1.05")), ("EUR", dt.date(2017, 7, 1), Decimal("1.15")),
         ("GBP", dt.date(2017, 3, 1), Decimal("1.25"))]


def test_rates_apply_from_their_date_until_the_next() -> None:
    r = Rates.of("USD", RATES)
    assert r.rate("EUR", dt.date(2016, 12, 31)) is None
    assert r.rate("EUR", dt.date(2017, 6, 30)) == Decimal("1.05")
    assert r.rate("EUR", dt.date(2017, 7, 1)) == Decimal("1.15")
    assert r.rate("EUR", None) == Decimal("1.15") and r.rate("USD", None) == 1
    assert r.convert(Decimal("0.50"), "EUR", dt.date(2017, 3, 1)) == Decimal("0.52")
    assert r.convert(Decimal("0.70"), "EUR", dt.date(2017, 3, 1)) == Decimal("0.74")  # 0.735 → 0.74


def test_two_currencies_and_changing_rates(engine: Engine) -> None:
    engine.save_rates("default", RATES)
    engine.process([Record(d, source="t") for d in DEALS])
    row = engine.kpis("default", "all")[0]
    assert row["won_revenue"] == Decimal("1050.00") + Decimal("383.33") + 500 + Decimal("0.52")
    assert row["won_deals"] == 4  # D3 and D6 are left out of every figure
    assert row["pipeline_value"] == Decimal("250.00")
    assert engine.unconverted("default") == {("deal", "GBP"): 1, ("deal", "JPY"): 1}
    # a GBP rate from 01-01 arrives: D3 converts at 1.20 → 120.012 → 120.01
    engine.save_rates("default", [("GBP", dt.date(2017, 1, 1), Decimal("1.20"))])
    row = engine.kpis("default", "all")[0]
    assert row["won_revenue"] == Decimal("1933.85") + Decimal("120.01")
    assert row["won_deals"] == 5 and engine.unconverted("default") == {("deal", "JPY"): 1}
    # the goals/incentives path (kpis_where) converts the same way
    assert engine.kpis_where("default", "all", lambda e: True)[0]["won_revenue"] == row["won_revenue"]


def test_rates_before_or_after_the_deals_give_the_same_figures(engine: Engine) -> None:
    engine.process([Record(d, source="t") for d in DEALS])
    before = engine.kpis("default", "all")[0]
    assert before["won_revenue"] == 500  # only the USD deal has a rate (itself)
    engine.save_rates("default", RATES)
    after = engine.kpis("default", "all")
    engine.process([Record(dict(d, event_id="x" + d["event_id"], version=2), source="t") for d in DEALS])
    assert engine.kpis("default", "all") == after
    assert after[0]["won_revenue"] == Decimal("1933.85")


def test_order_independent_with_rates(tmp_path: Path) -> None:
    def read(e: Engine) -> Any:
        e.save_rates("default", RATES)
        return e.kpis("default", "rep"), e.unconverted("default")

    rows, unconverted = assert_order_independent(DEALS, read, batch_sizes=(1, 3))
    assert rows[0]["won_revenue"] == Decimal("1933.85") and unconverted[("deal", "JPY")] == 1


def test_a_cost_converts_at_its_day() -> None:
    from attain.core.fx import convert_fact
    from attain.core.models import parse_event

    cost = parse_event('{"type": "cost", "event_id": "c", "cost_id": "C", "category": "marketing", '
                       '"amount": "100", "currency": "EUR", "period": "2017-07"}')
    converted, missing = convert_fact(cost, Rates.of("USD", RATES))
    assert missing is None and getattr(converted, "amount", None) == Decimal("115.00")


def test_parse_fx_csv() -> None:
    assert parse_fx_csv("date,currency,rate\n2017-01-01,EUR,1.05\n") == [("EUR", dt.date(2017, 1, 1), Decimal("1.05"))]
    for text, problem in [("day,currency,rate\n", "missing column date"),
                          ("date,currency,rate\n2017-13-01,EUR,1\n", "fx.csv:2: date"),
                          ("date,currency,rate\n2017-01-01,eur,1\n", "currency 'eur'"),
                          ("date,currency,rate\n2017-01-01,EUR,-1\n", "positive"),
                          ("date,currency,rate\n2017-01-01,EUR,abc\n", "not a number")]:
        try:
            parse_fx_csv(text)
        except ValueError as exc:
            assert problem in str(exc)
        else:
            raise AssertionError(f"{text!r} was accepted")


def test_cli_import_fx_stats_and_warning(cli: Cli, tmp_path: Path) -> None:
    events = tmp_path / "deals.jsonl"
    events.write_text("".join(json.dumps(d) + "\n" for d in DEALS))
    cli("ingest", str(events))
    fx = tmp_path / "fx.csv"
    fx.write_text("date,currency,rate\n" + "".join(f"{d},{c},{r}\n" for c, d, r in RATES))
    assert "3 rates imported for 2 currencies; reporting currency USD" in cli("import", "fx", str(fx)).stdout
    res = cli("kpi", "--by", "all", "--format", "json")
    assert json.loads(res.stdout)[0]["won_revenue"] == 1933.85
    assert "warning: 1 deal event(s) in JPY have no exchange rate to USD" in res.stderr
    stats = {r["name"]: r["value"] for r in cli.json("stats", "--format", "json")}
    assert stats['attain_unconverted_events{type="deal",currency="GBP"}'] == 1
    prom = cli("stats", "--format", "prometheus").stdout
    assert "# TYPE attain_unconverted_events gauge" in prom
    bad = tmp_path / "bad.csv"
    bad.write_text("date,currency,rate\n2017-01-01,EUR,0\n")
    res = cli("import", "fx", str(bad), ok=False)
    assert res.exit_code == 2 and "bad.csv:2: rate '0' must be a positive number; nothing was imported" in res.stderr


def test_commissions_use_the_same_conversion() -> None:
    """The incentives plugin's deal facts (what commissions are computed on): D1 EUR 1000 won
    on 2017-05-10 → 1050.00, D7 EUR 0.50 → 0.52 (as the KPIs), D6 in JPY has no rate: no
    fact (it earns nothing) and is counted as unconverted."""
    from attain.core.models import DealEvent
    from attain.plugins.incentives.facts import FactBook, snap_of

    book = FactBook(rates=Rates.of("USD", RATES))
    for d in DEALS:
        ev = DealEvent.model_validate(d)
        book.add(ev.deal_id, snap_of(ev))
    amounts = {f.deal_id: f.amount for f in book.facts()}
    assert amounts == {"D1": Decimal("1050.00"), "D2": Decimal("383.33"), "D5": Decimal("500"),
                       "D7": Decimal("0.52")}
    assert book.unconverted == {"D3": "GBP", "D6": "JPY"}
