"""`attain economics`: customers, CAC, LTV, team and lead → won figures on a hand-built stream
whose figures are worked out in the comments; the same under shuffled and redelivered streams."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

from attain.core import Engine, Record, parse_period
from attain.plugins import kpis as kpis_plugin
from attain.plugins.kpis.economics import economics
from attain.testing import assert_order_independent, make_plugins
from testkit import Cli

_n = 0


def _id() -> str:
    global _n
    _n += 1
    return f"x{_n}"


def won(deal_id: str, account: str, closed_on: str, amount: str, status: str = "won") -> dict[str, Any]:
    return {"type": "deal", "event_id": _id(), "deal_id": deal_id, "version": 1, "owner": "Ann",
            "account": account, "stage": status, "status": status, "amount": amount,
            "closed_on": closed_on if status != "open" else None, "occurred_at": "2017-01-01T00:00:00Z"}


def fact(event_type: str, **fields: Any) -> dict[str, Any]:
    return {"type": event_type, "event_id": _id(), **fields}


def at(day: str) -> str:
    return f"{day}T12:00:00Z"


EVENTS: list[dict[str, Any]] = [
    # A: first won 2017-03-10, churned 2017-08-05 (active at Q3's start, lost in Q3)
    won("DA", "A", "2017-03-10", "500"), fact("customer", account="A", kind="churned", occurred_at=at("2017-08-05")),
    # B: first won in Q2, won again in Q3 (2000): active at the start
    won("DB1", "B", "2017-05-01", "700"), won("DB2", "B", "2017-07-15", "2000"),
    # C: first won in Q3 (1000): the one new customer; an earlier lost deal does not count
    won("DC", "C", "2017-07-20", "1000"), won("DC0", "C", "2017-04-01", "0", status="lost"),
    # D: churned before Q3; E: only an open deal (not a customer); F: won on Q2's last day
    won("DD", "D", "2016-12-01", "300"), fact("customer", account="D", kind="churned", occurred_at=at("2017-02-01")),
    won("DE", "E", "", "400", status="open"), won("DF", "F", "2017-06-30", "800"),
    # Q3 costs: marketing 600 + sales 900 (other 50 is not CAC's)
    fact("cost", cost_id="K1", category="marketing", amount="600", period="2017-07"),
    fact("cost", cost_id="K2", category="sales", amount="900", period="2017-Q3"),
    fact("cost", cost_id="K3", category="other", amount="50", period="2017-08"),
    # team: Ann since 2016-01-01; Bob 2017-02-01 → 2017-08-31; Cy from 2017-07-10; Dee left in
    # March; Eve starts after Q3
    fact("rep", rep="Ann", kind="hired", occurred_at=at("2016-01-01")),
    fact("rep", rep="Bob", kind="hired", occurred_at=at("2017-02-01")),
    fact("rep", rep="Bob", kind="left", occurred_at=at("2017-08-31")),
    fact("rep", rep="Cy", kind="hired", occurred_at=at("2017-07-10")),
    fact("rep", rep="Dee", kind="hired", occurred_at=at("2015-06-01")),
    fact("rep", rep="Dee", kind="left", occurred_at=at("2017-03-01")),
    fact("rep", rep="Eve", kind="hired", occurred_at=at("2017-10-01")),
    # leads: L1 created 06-01, SQL in Q3, converted into DC (won 07-20); L2 SQL in Q3 into the
    # open DE; L3 SQL in Q2 into DB2 (won 07-15)
    fact("lead", lead_id="L1", kind="created", occurred_at=at("2017-06-01")),
    fact("lead", lead_id="L1", kind="sql", occurred_at=at("2017-07-02")),
    fact("lead", lead_id="L1", kind="converted", deal_id="DC", occurred_at=at("2017-07-05")),
    fact("lead", lead_id="L2", kind="sql", occurred_at=at("2017-07-03")),
    fact("lead", lead_id="L2", kind="converted", deal_id="DE", occurred_at=at("2017-07-04")),
    fact("lead", lead_id="L3", kind="sql", occurred_at=at("2017-06-15")),
    fact("lead", lead_id="L3", kind="converted", deal_id="DB2", occurred_at=at("2017-06-20")),
    *(fact("lead", lead_id=f"Q{i}", kind="disqualified", reason=r, occurred_at=at(d))
      for i, (r, d) in enumerate([("no budget", "2017-08-01"), ("no budget", "2017-08-02"),
                                  ("competitor", "2017-09-01"), ("timing", "2017-06-01")])),
]


def want() -> dict[str, Any]:
    at_start, new, lost = 3, 1, 1                   # A, B, F; C; A
    spend = Decimal(600 + 900)
    revenue = Decimal(2000 + 1000)                  # DB2 + DC closed in Q3
    per_customer = revenue / (at_start + new)       # 750
    ltv = per_customer * at_start / lost            # 750 ÷ (1/3) = 2250
    cac = spend / new                               # 1500
    end = dt.date(2017, 9, 30)
    tenure = Decimal((end - dt.date(2016, 1, 1)).days + (end - dt.date(2017, 7, 10)).days) / 2
    return {
        "period": "2017-Q3", "new_customers": new, "active_customers_at_start": at_start,
        "customers_lost": lost, "churn_rate": Decimal("0.3333"), "customer_retention": Decimal("0.6667"),
        "sales_and_marketing_cost": spend, "cac": cac, "won_revenue": revenue,
        "revenue_per_customer": per_customer, "ltv": ltv, "ltv_to_cac": ltv / cac,
        # recurring value on 06-30: A 500, B 700, F 800 (D churned, C not yet a customer) = 2000;
        # on 09-30: A churned (500 lost), B 700 + 2000 (expansion 2000), F 800:
        # NRR (2000 + 2000 − 0 − 500) ÷ 2000 = 1.75, GRR (2000 − 500) ÷ 2000 = 0.75
        "starting_recurring_revenue": Decimal(2000), "expansion_revenue": Decimal(2000),
        "contraction_revenue": Decimal(0), "churned_recurring_revenue": Decimal(500),
        "net_revenue_retention": Decimal("1.75"), "gross_revenue_retention": Decimal("0.75"),
        # Ann and Bob at the start, Ann and Cy at the end; Bob left: 1 ÷ ((2 + 2) / 2)
        "headcount_at_start": 2, "headcount": 2, "reps_hired": 1, "reps_left": 1,
        "rep_turnover_rate": Decimal("0.5"), "avg_tenure_days": tenure,
        # L1 of {L1, L2} won; L1 06-01 → 07-20 = 49 days, L3 06-15 → 07-15 = 30 days
        "sql_to_won_rate": Decimal("0.5"), "lead_to_customer_days": Decimal("39.5"),
        "disqualification_reasons": [{"reason": "no budget", "leads": 2}, {"reason": "competitor", "leads": 1}],
        "unconverted": 0,
    }


def test_economics_figures_by_hand(engine: Engine) -> None:
    res = engine.process([Record(dict(e), source="t") for e in EVENTS])
    assert res.rejected == 0
    got = economics(engine.deals("default"), engine.facts("default"), parse_period("2017-Q3"))
    assert got == want()


def test_economics_is_order_independent() -> None:
    pm = make_plugins({"kpis": kpis_plugin})
    got = assert_order_independent(
        EVENTS, lambda e: economics(e.deals("default"), e.facts("default"), parse_period("2017-Q3")),
        plugins=pm, seeds=(1, 2, 3), batch_sizes=(1, 5))
    assert got == want()


def test_economics_command(cli: Cli, tmp_path: Any) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    cli("ingest", str(path))
    got = cli.json("economics", "--period", "2017-Q3", "--format", "json")
    assert got == want()
    table = cli("economics", "--period", "2017-Q3").stdout
    assert "churn_rate" in table and "disqualified: no budget" in table
    bad = cli("economics", "--period", "2017-Q5", ok=False)
    assert bad.exit_code == 2 and "2017-Q5" in bad.stderr and "Traceback" not in bad.stderr


def test_economics_converts_like_the_kpis() -> None:
    """C's deal in EUR at 1.10 (1000 → 1100.00) and the sales cost in GBP at 1.30 (900 →
    1170.00): revenue 2000 + 1100, spend 600 + 1170; a JPY cost without a rate is left out."""
    import datetime as dt

    from attain.core import Rates
    from attain.core.models import parse_event

    events = [dict(e) for e in EVENTS]
    for e in events:
        if e["type"] == "deal" and e["deal_id"] == "DC":
            e["currency"] = "EUR"
        if e.get("cost_id") == "K2":
            e["currency"] = "GBP"
    events.append(fact("cost", cost_id="K4", category="sales", amount="5", currency="JPY", period="2017-07"))
    parsed = [parse_event(json.dumps(e)) for e in events]
    rates = Rates.of("USD", [("EUR", dt.date(2017, 1, 1), Decimal("1.10")),
                             ("GBP", dt.date(2017, 1, 1), Decimal("1.30"))])
    deals = {d.deal_id: d for d in parsed if d.type == "deal"}
    got = economics(deals.values(), [f for f in parsed if f.type != "deal"], parse_period("2017-Q3"), rates)
    assert got["won_revenue"] == Decimal("3100.00") and got["sales_and_marketing_cost"] == Decimal("1770.00")
    assert got["cac"] == Decimal("1770.00") and got["unconverted"] == 1
