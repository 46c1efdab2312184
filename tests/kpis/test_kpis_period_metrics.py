"""Period metrics (state across events) as `attain kpi` columns and goal metrics: the hand-built
stream of test_kpis_economics per quarter and per month, worked out in the comments; the same
under shuffled and redelivered streams; company goals on churn_rate and cac; refused for a team."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from attain.core import Engine, PeriodMetric, Record, RegistrationError, hookimpl, parse_period
from attain.plugins import kpis as kpis_plugin
from attain.plugins.goals.model import GoalError
from attain.plugins.goals.service import GoalService
from attain.plugins.kpis.economics import economics
from attain.plugins.kpis.period import FIGURES
from attain.testing import assert_order_independent, make_plugins
from testkit import Cli

from kpis.test_kpis_economics import EVENTS, at, fact, want, won

D = Decimal
NAMES = list(FIGURES)


def load(engine: Engine, events: list[dict[str, Any]] = EVENTS) -> None:
    res = engine.process([Record(dict(e), source="t") for e in events])
    assert res.rejected == 0


def by_key(rows: list[dict[str, object]]) -> dict[object, dict[str, object]]:
    return {r["key"]: r for r in rows}


def test_quarter_columns_are_the_economics_figures(engine: Engine) -> None:
    """`kpi --by quarter`'s 2017-Q3 row and the company row of 2017-Q3 hold exactly what
    `attain economics --period 2017-Q3` reports (worked out in test_kpis_economics.want)."""
    load(engine)
    expected = {k: v for k, v in want().items() if k in FIGURES}
    assert set(expected) == set(FIGURES)
    q3 = by_key(engine.kpis("default", "quarter", metrics=NAMES))["2017-Q3"]
    assert {k: q3[k] for k in NAMES} == expected
    company = engine.kpis("default", "all", period="2017-Q3", metrics=NAMES)
    assert [{k: r[k] for k in NAMES} for r in company] == [expected]
    # and every period the report covers agrees with the columns
    for key, row in by_key(engine.kpis("default", "quarter", period_metrics=True)).items():
        if key is None:
            continue
        report = economics(engine.deals("default"), engine.facts("default"), parse_period(str(key)))
        assert {k: row[k] for k in NAMES} == {k: report[k] for k in NAMES}, key


def test_month_figures_by_hand(engine: Engine) -> None:
    load(engine)
    rows = by_key(engine.kpis("default", "month", metrics=["new_customers", "active_customers_at_start",
                                                           "customers_lost", "churn_rate", "headcount_at_start",
                                                           "headcount", "rep_turnover_rate", "cac"]))
    # July: A (03-10), B (05-01), F (06-30) are customers at the start (D churned 02-01); C's first
    # win 07-20 is the new one; nobody lost; Ann, Bob at the start, Cy hired 07-10: 2 → 3;
    # CAC: the marketing cost of July (600) ÷ 1 new; the Q3 sales cost is dated 07-01 too (900)
    assert rows["2017-07"] == {"key": "2017-07", "new_customers": 1, "active_customers_at_start": 3,
                               "customers_lost": 0, "churn_rate": 0, "headcount_at_start": 2,
                               "headcount": 3, "rep_turnover_rate": 0, "cac": D(1500)}
    # August: A, B, C, F at the start; A churned 08-05: 1 ÷ 4; Bob left 08-31: 3 → 2, 1 ÷ 2.5
    assert rows["2017-08"] == {"key": "2017-08", "new_customers": 0, "active_customers_at_start": 4,
                               "customers_lost": 1, "churn_rate": D("0.25"), "headcount_at_start": 3,
                               "headcount": 2, "rep_turnover_rate": D("0.4"), "cac": None}


def test_a_customer_won_and_lost_in_the_period_is_new_not_lost(engine: Engine) -> None:
    """G's first win and its churn are both in Q3: it was not a customer at Q3's start, so it is
    new in Q3 and not among the customers lost (churn rate's numerator counts the start's)."""
    load(engine, [won("G1", "G", "2017-07-01", "100"),
                  fact("customer", account="G", kind="churned", occurred_at=at("2017-07-25")),
                  won("H1", "H", "2017-01-10", "100")])
    q3 = engine.kpis("default", "all", period="2017-Q3", metrics=["new_customers", "customers_lost", "churn_rate"])
    assert q3 == [{"key": "all", "new_customers": 1, "customers_lost": 0, "churn_rate": 0}]


def test_period_metrics_are_order_independent() -> None:
    pm = make_plugins({"kpis": kpis_plugin})
    got = assert_order_independent(
        EVENTS, lambda e: e.kpis("default", "month", metrics=NAMES), plugins=pm, seeds=(1, 2, 3),
        batch_sizes=(1, 7))
    assert by_key(got)["2017-08"]["churn_rate"] == D("0.25")


def test_other_groupings_and_parts_of_the_company_have_none(engine: Engine) -> None:
    load(engine)
    for r in engine.kpis("default", "rep", metrics=["won_revenue", "churn_rate"]):
        assert r["churn_rate"] is None and r["won_revenue"] is not None
    rows = engine.kpis("default", "all", metrics=["churn_rate"], owners=["Ann"])
    assert [r["churn_rate"] for r in rows] == [None]
    # not asked: not computed, not in the row
    assert "churn_rate" not in engine.kpis("default", "quarter")[0]


def test_a_new_event_changes_the_next_read(engine: Engine) -> None:
    """The state a read keeps serves reads until the next accepted event (then it is read anew)."""
    load(engine)
    before = engine.kpis("default", "all", period="2017-Q3", metrics=["customers_lost"])
    load(engine, [fact("customer", account="B", kind="churned", occurred_at=at("2017-09-01"))])
    after = engine.kpis("default", "all", period="2017-Q3", metrics=["customers_lost"])
    assert (before[0]["customers_lost"], after[0]["customers_lost"]) == (1, 2)


def test_kpi_command_json_has_the_columns_and_the_table_hides_them(cli: Cli, tmp_path: Any) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    cli("ingest", str(path))
    rows = {r["key"]: r for r in cli.json("kpi", "--by", "quarter", "--format", "json")}
    assert rows["2017-Q3"]["churn_rate"] == 0.3333 or str(rows["2017-Q3"]["churn_rate"]) == "0.3333"
    assert {"new_customers", "cac", "ltv", "ltv_to_cac", "headcount", "rep_turnover_rate",
            "sql_to_won_rate", "lead_to_customer_days"} <= set(rows["2017-Q3"])
    csv = cli("kpi", "--by", "all", "--period", "2017-Q3", "--format", "csv").stdout
    assert "churn_rate" in csv.splitlines()[0]
    table = cli("kpi", "--by", "quarter").stdout
    assert "churn_rate" not in table
    picked = cli("kpi", "--by", "quarter", "--metrics", "new_customers,churn_rate").stdout
    assert "churn_rate" in picked and "0.3333" in picked
    bad = cli("kpi", "--metrics", "churn_ratio", ok=False)
    assert bad.exit_code == 2 and "churn_rate" in bad.stderr  # the error lists the period metrics


def test_company_goals_on_period_metrics(engine: Engine) -> None:
    """"Churn below 40 % in 2017-Q3" (actual 0.3333: on track, lower is better) and "CAC at most
    1,000 in 2017-Q3" (actual 1500: off); a team goal on churn_rate is refused with the reason."""
    load(engine)
    svc = GoalService(engine, "default")
    svc.add({"id": "churn", "metric": "churn_rate", "owner": "company", "period": "2017-Q3", "target": "0.40"})
    svc.add({"id": "cac", "metric": "cac", "owner": "company", "period": "2017-Q3", "target": "1000"})
    rows = {r["id"]: r for r in svc.progress(dt.date(2017, 10, 15))}
    assert rows["churn"]["actual"] == D("0.3333") and rows["cac"]["actual"] == D(1500)
    assert svc.actual(svc.repo.get("default", "churn")) == D("0.3333")  # type: ignore[arg-type]
    with pytest.raises(GoalError) as exc:
        svc.add({"metric": "churn_rate", "owner": "rep:Ann", "period": "2017-Q3", "target": "0.1"})
    assert "company figure" in str(exc.value.problems)
    with pytest.raises(GoalError) as exc:
        svc.add({"metric": "new_customers", "owner": "company", "period": "2017", "target": "10",
                 "cascade": {"owners": ["rep"]}})
    assert "cannot be split" in str(exc.value.problems)


class Clash:
    @hookimpl
    def attain_register_period_metrics(self, register: Any) -> None:
        register(PeriodMetric("won_revenue", "a clash", lambda reads, periods: {}))


def test_a_period_metric_cannot_take_a_metric_name() -> None:
    pm = make_plugins({"clash": Clash()})
    with pytest.raises(RegistrationError, match="won_revenue"):
        pm.period_metrics  # noqa: B018


def test_customer_figures_per_account_segment(engine: Engine) -> None:
    """`--by sector`: each sector's customers (A, B retail; C, F software; D has none), its won
    revenue, the company's CAC (costs carry no segment)."""
    from attain.core import Account

    load(engine)
    # read before the accounts have sectors: every customer is in the group without one
    assert [r["key"] for r in engine.kpis("default", "sector", period="2017-Q3", metrics=["churn_rate"])] == [None]
    # the roster loaded later regroups the figures (no event in between)
    engine.save_dimensions("default", accounts=[Account(name="A", sector="retail"), Account(name="B", sector="retail"),
                                                Account(name="C", sector="software"),
                                                Account(name="F", sector="software")])
    names = ["won_revenue", "new_customers", "active_customers_at_start", "customers_lost", "churn_rate",
             "revenue_per_customer", "ltv", "cac", "ltv_to_cac", "headcount"]
    rows = by_key(engine.kpis("default", "sector", period="2017-Q3", metrics=names))
    # retail: A and B customers at Q3's start, A lost (1 ÷ 2); Q3 revenue DB2 2000 over 2
    # customers = 1000 each; LTV 1000 ÷ 0.5 = 2000; CAC the company's 1500: 2000 ÷ 1500
    assert rows["retail"] == {"key": "retail", "won_revenue": D(2000), "new_customers": 0,
                              "active_customers_at_start": 2, "customers_lost": 1, "churn_rate": D("0.5"),
                              "revenue_per_customer": D(1000), "ltv": D(2000), "cac": D(1500),
                              "ltv_to_cac": D("1.3333"), "headcount": None}
    # software: F at the start, C new (07-20), nobody lost: no churn, so no LTV
    assert rows["software"] == {"key": "software", "won_revenue": D(1000), "new_customers": 1,
                                "active_customers_at_start": 1, "customers_lost": 0, "churn_rate": 0,
                                "revenue_per_customer": D(500), "ltv": None, "cac": D(1500),
                                "ltv_to_cac": None, "headcount": None}
    # the other groupings of accounts have none (a region is not an account segment)
    assert all(r["churn_rate"] is None for r in engine.kpis("default", "region", metrics=["churn_rate"]))


def test_growth_goals_on_period_metrics(engine: Engine) -> None:
    """"LTV +12 %" and "CAC −10 %" over 2017-Q3 as 2017-Q4 company goals: the targets are the
    Q3 figures (LTV 2250, CAC 1500: test_kpis_economics.want) × 1.12 and × 0.90."""
    load(engine)
    svc = GoalService(engine, "default")
    svc.add({"id": "ltv", "metric": "ltv", "owner": "company", "period": "2017-Q4",
             "target": {"growth": "0.12", "baseline": "2017-Q3"}})
    svc.add({"id": "cac", "metric": "cac", "owner": "company", "period": "2017-Q4",
             "target": {"growth": "-0.10", "baseline": "2017-Q3"}})
    ltv, cac = svc.repo.get("default", "ltv"), svc.repo.get("default", "cac")
    assert ltv is not None and cac is not None
    assert (ltv.target, ltv.direction, ltv.aggregation) == (D("2520.00"), "up", "level")
    assert (cac.target, cac.direction, cac.aggregation) == (D("1350.00"), "down", "level")
