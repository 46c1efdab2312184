"""NRR/GRR and campaign ROI of `attain economics` on hand-built streams whose figures are
worked out in the comments; the same under shuffled and redelivered streams."""

from __future__ import annotations

import datetime as dt
import json
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from attain.core import Engine, Rates, parse_period
from attain.plugins import kpis as kpis_plugin
from attain.plugins.kpis.economics import campaigns, economics
from attain.testing import assert_order_independent, make_plugins
from testkit import Cli

Q3 = parse_period("2017-Q3")
RETENTION = ("starting_recurring_revenue", "expansion_revenue", "contraction_revenue",
             "churned_recurring_revenue", "net_revenue_retention", "gross_revenue_retention")
_n = 0


def _id() -> str:
    global _n
    _n += 1
    return f"r{_n}"


def won(account: str, closed_on: str, amount: str, **extra: Any) -> dict[str, Any]:
    i = _id()
    return {"type": "deal", "event_id": i, "deal_id": f"D{i}", "version": 1, "owner": "Ann",
            "account": account, "stage": "Won", "status": "won", "amount": amount,
            "closed_on": closed_on, "occurred_at": f"{closed_on}T00:00:00Z", **extra}


def customer(account: str, kind: str, day: str, amount: str | None = None, **extra: Any) -> dict[str, Any]:
    ev = {"type": "customer", "event_id": _id(), "account": account, "kind": kind,
          "occurred_at": f"{day}T12:00:00Z", **extra}
    return ev if amount is None else {**ev, "amount": amount}


RETAIN = [
    # A: 1000, renewed at 1200 in Q3: expansion 200
    won("A", "2017-01-10", "1000"), customer("A", "renewed", "2017-08-01", "1200"),
    # B: 2000, renewed at 1500 in Q3: contraction 500
    won("B", "2017-02-01", "2000"), customer("B", "renewed", "2017-07-15", "1500"),
    # C: 800, renewed at 900 in May, upsell 300 in June (1200 at the start), churned in Q3
    won("C", "2017-03-01", "800"), customer("C", "renewed", "2017-05-01", "900"),
    won("C", "2017-06-10", "300"), customer("C", "churned", "2017-09-01"),
    # D: 500, renewed without an amount (stays 500), upsell 250 in Q3: expansion 250
    won("D", "2017-04-01", "500"), customer("D", "renewed", "2017-07-01"), won("D", "2017-08-10", "250"),
    # E: churned (no amount: everything) on the day of its deal, which comes first on that day
    # and is lost with it: 0 at the start; a new
    # deal in Q3 makes it a customer again, outside the cohort; F: new in Q3
    won("E", "2017-06-01", "400"), customer("E", "churned", "2017-06-01"), won("E", "2017-08-20", "600"),
    won("F", "2017-07-05", "5000"),
    # P: 1000, loses 300 of recurring value in Q3 (a churned event with an amount): contraction 300
    won("P", "2017-02-01", "1000"), customer("P", "churned", "2017-08-15", "300"),
]
# SRR = 1000 + 2000 + 1200 + 500 + 1000 = 5700; expansion 200 + 250 = 450; contraction 500 + 300
# = 800; churn 1200 (C)
SRR, EXP, CON, CHURN = Decimal(5700), Decimal(450), Decimal(800), Decimal(1200)


def r4(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.0001"), ROUND_HALF_EVEN)


WANT = {"starting_recurring_revenue": SRR, "expansion_revenue": EXP, "contraction_revenue": CON,
        "churned_recurring_revenue": CHURN,
        "net_revenue_retention": r4((SRR + EXP - CON - CHURN) / SRR),   # 4150 / 5700 = 0.7281
        "gross_revenue_retention": r4((SRR - CON - CHURN) / SRR)}       # 3700 / 5700 = 0.6491


def retention(e: Engine) -> dict[str, Any]:
    got = economics(e.deals("default"), e.facts("default"), Q3)
    return {k: got[k] for k in RETENTION}


def test_net_and_gross_revenue_retention() -> None:
    pm = make_plugins({"kpis": kpis_plugin})
    got = assert_order_independent(RETAIN, retention, plugins=pm, seeds=(1, 2, 3), batch_sizes=(1, 4))
    assert got == WANT
    assert WANT["net_revenue_retention"] == Decimal("0.7281")
    assert WANT["gross_revenue_retention"] == Decimal("0.6491")


def test_retention_converts_customer_amounts() -> None:
    """G: 1000 USD, renewed at 1000 EUR (1.10 → 1100.00): SRR 1000, expansion 100, NRR 1.1;
    H: renewed in JPY without a rate: left out of retention (its 400 stays); I: loses 50 JPY
    without a rate: left out too (not a churn of everything), its 600 stays."""
    from attain.core.models import parse_event

    events = [won("G", "2017-01-01", "1000"), customer("G", "renewed", "2017-08-01", "1000", currency="EUR"),
              won("H", "2017-01-01", "400"), customer("H", "renewed", "2017-08-01", "9", currency="JPY"),
              won("I", "2017-01-01", "600"), customer("I", "churned", "2017-08-01", "50", currency="JPY")]
    parsed = [parse_event(json.dumps(e)) for e in events]
    rates = Rates.of("USD", [("EUR", dt.date(2017, 1, 1), Decimal("1.10"))])
    got = economics([p for p in parsed if p.type == "deal"], [p for p in parsed if p.type != "deal"], Q3, rates)
    assert {k: got[k] for k in RETENTION} == {
        "starting_recurring_revenue": Decimal(2000), "expansion_revenue": Decimal("100.00"),
        "contraction_revenue": 0, "churned_recurring_revenue": 0,
        "net_revenue_retention": r4(Decimal(2100) / 2000), "gross_revenue_retention": 1}
    assert got["unconverted"] == 2
    assert got["customers_lost"] == 1  # I's churn still counts as a churned customer


CAMPAIGN = [
    won("X", "2017-07-10", "1000", lead_source="Summer17"),
    # no source of its own: a lead converted into it from Summer17
    {**won("Y", "2017-08-01", "3000"), "deal_id": "DY"},
    {"type": "lead", "event_id": "cy", "lead_id": "LY", "kind": "converted", "deal_id": "DY",
     "source": "Summer17", "occurred_at": "2017-06-20T00:00:00Z"},
    won("Z", "2017-08-05", "500", lead_source="webinar"),
    won("Z", "2017-05-01", "700", lead_source="webinar"),       # won before Q3
    {**won("W", "2017-08-05", "900", lead_source="Summer17"), "status": "open", "closed_on": None},
    {"type": "cost", "event_id": "k1", "cost_id": "K1", "category": "marketing", "campaign": "Summer17",
     "amount": "400", "period": "2017-07"},
    {"type": "cost", "event_id": "k2", "cost_id": "K2", "category": "marketing", "campaign": "Summer17",
     "amount": "600", "period": "2017-Q3"},
    {"type": "cost", "event_id": "k3", "cost_id": "K3", "category": "marketing", "campaign": "webinar",
     "amount": "1000", "period": "2017-Q2"},                    # before Q3
    {"type": "cost", "event_id": "k4", "cost_id": "K4", "category": "marketing", "campaign": "Fall17",
     "amount": "250", "period": "2017-09"},
    {"type": "cost", "event_id": "k5", "cost_id": "K5", "category": "sales", "campaign": "Summer17",
     "amount": "999", "period": "2017-07"},                     # not a marketing cost
]
# Summer17: X 1000 + Y 3000 = 4000 over 400 + 600 = 1000: ROI 4; webinar: Z 500, no Q3 cost;
# Fall17: cost 250, nothing won: ROI 0
WANT_CAMPAIGNS = [
    {"campaign": "Summer17", "won_deals": 2, "won_revenue": 4000, "marketing_cost": 1000, "roi": 4},
    {"campaign": "webinar", "won_deals": 1, "won_revenue": 500, "marketing_cost": 0, "roi": None},
    {"campaign": "Fall17", "won_deals": 0, "won_revenue": 0, "marketing_cost": 250, "roi": 0},
]


def test_campaign_roi_is_order_independent() -> None:
    pm = make_plugins({"kpis": kpis_plugin})
    got = assert_order_independent(
        CAMPAIGN, lambda e: campaigns(e.deals("default"), e.facts("default"), Q3),
        plugins=pm, seeds=(1, 2), batch_sizes=(1, 3))
    assert got == WANT_CAMPAIGNS


def test_economics_by_campaign_command(cli: Cli, tmp_path: Any) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in CAMPAIGN + RETAIN))
    cli("ingest", str(path))
    assert cli.json("economics", "--period", "2017-Q3", "--by", "campaign", "--format", "json") == WANT_CAMPAIGNS
    table = cli("economics", "--period", "2017-Q3", "--by", "campaign").stdout
    assert "Summer17" in table and "Fall17" in table
    got = cli.json("economics", "--period", "2017-Q3", "--format", "json")
    assert got["starting_recurring_revenue"] > 0 and "net_revenue_retention" in got
    bad = cli("economics", "--period", "2017-Q3", "--by", "rep", ok=False)
    assert bad.exit_code == 2 and "campaign" in bad.stderr and "Traceback" not in bad.stderr
