"""Progress (actual, pace, projections, status) matches figures computed from the CSV with plain
Python."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from attain.core.engine import Engine
from attain.plugins.goals.periods import parse_period
from attain.plugins.goals.service import GoalService
from attain.plugins.goals.tracking import Thresholds, evaluate, seasonal_pace

from goals.goals_helpers import CsvData, GoalsCli, require_example_kpi
from goals.goals_reference import kpi, progress

D = Decimal
AS_OF = dt.date(2017, 8, 15)

PLAN = """\
goals:
  - id: revenue-2017
    metric: won_revenue
    owner: company
    period: "2017"
    target: 10000000
    stretch: 11000000
  - id: east-q3
    metric: won_revenue
    owner: region:East
    period: "2017-Q3"
    target: 1200000
    cascade: {owners: manager}
  - id: cara-aug
    metric: won_revenue
    owner: manager:Cara Losch
    period: "2017-08"
    target: 150000
  - id: darcel-summer
    metric: won_revenue
    owner: rep:Darcel Schlecht
    period: {start: 2017-07-01, end: 2017-09-15}
    target: 400000
  - id: autumn
    metric: won_revenue
    owner: company
    period: "2017-Q4"
    target: 3000000
"""


def q(v: Decimal, places: int) -> Decimal:
    return v.quantize(D(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def test_progress_matches_the_csv(goals_cli: GoalsCli, csv_data: CsvData, tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    goals_cli("goals", "apply", str(plan))
    rows = goals_cli.json("goals", "progress", "--as-of", AS_OF.isoformat(), "--format", "json")
    by_id = {r["id"]: r for r in rows}
    # one object per goal, cascaded children included with their parent
    assert list(by_id) == ["revenue-2017", "east-q3", "east-q3/manager-cara-losch",
                           "east-q3/manager-rocco-neubert", "cara-aug", "darcel-summer", "autumn"]
    assert by_id["east-q3/manager-cara-losch"]["parent"] == "east-q3"
    assert by_id["revenue-2017"]["parent"] is None
    for r in rows:
        for key in ("id", "owner", "metric", "period", "target", "actual", "attainment",
                    "expected_attainment", "projection", "status", "parent"):
            assert key in r, (r["id"], key)
        period = parse_period(r["period"])
        exp = progress(csv_data, "won_revenue", r["owner"], period.start, period.end,
                       r["target"], AS_OF)
        got = {k: r[k] for k in exp}
        assert got == exp, r["id"]
    # spot-check the headline figures
    company = by_id["revenue-2017"]
    assert company["actual"] == csv_data.won(dt.date(2017, 1, 1), AS_OF) == D(5441623)
    assert company["expected_attainment"] == D("0.6219")  # 227 of 365 days
    assert company["status"] == "at_risk"
    assert company["status_rule"].startswith("at_risk: score = attainment 0.5442 / pace 0.6219")
    assert company["stretch_attainment"] == q(D(5441623) / D(11000000), 4)
    assert by_id["autumn"]["status"] == "not_started"
    assert by_id["darcel-summer"]["elapsed_days"] == 46 and by_id["darcel-summer"]["period_days"] == 77

    # the same figures as CSV …
    out = goals_cli("goals", "progress", "--as-of", AS_OF.isoformat(), "--format", "csv").stdout
    table_rows = list(csv.DictReader(io.StringIO(out)))
    assert list(table_rows[0]) == ["id", "parent", "owner", "metric", "period", "target",
                                   "actual", "attainment", "expected_attainment", "projection",
                                   "projection_run_rate", "status", "as_of"]
    for r, c in zip(rows, table_rows, strict=True):
        period = r["period"] if isinstance(r["period"], str) else \
            f"{r['period']['start']}..{r['period']['end']}"
        assert (c["id"], c["parent"], c["owner"], c["metric"], c["period"], c["status"],
                c["as_of"]) == (r["id"], r["parent"] or "", r["owner"], "won_revenue", period,
                                r["status"], "2017-08-15")
        for k in ("target", "actual", "attainment", "expected_attainment",
                  "projection_run_rate"):
            assert D(c[k]) == r[k], (r["id"], k)
        assert (D(c["projection"]) if c["projection"] else None) == r["projection"]
    assert by_id["darcel-summer"]["period"] == {"start": "2017-07-01", "end": "2017-09-15"}
    # … and as a table (key figures of every row, and the status counts)
    table = goals_cli("goals", "progress", "--as-of", AS_OF.isoformat(),
                      env={"COLUMNS": "250"}).stdout
    for r in rows:
        line = next(ln for ln in table.splitlines()
                    if f"│ {'  ' * r['id'].count('/')}{r['id'].rsplit('/', 1)[-1]} " in ln)
        for v in (r["target"], r["actual"]):
            assert f" {v:,.2f} " in line, (r["id"], line)
        assert f" {r['attainment'] * 100:.1f}% " in line and f" {r['status']} " in line
    # at 80 columns: split into parts that each fit, each repeating the goal; no id, owner or
    # figure is cut or folded
    narrow = goals_cli("goals", "progress", "--as-of", AS_OF.isoformat(),
                       env={"COLUMNS": "80"}).stdout
    assert all(len(ln) <= 80 for ln in narrow.splitlines())
    assert "Goal progress as of 2017-08-15 (tenant default): columns 1–2 of 9" in narrow
    for r in rows:
        name = f"│ {'  ' * r['id'].count('/')}{r['id'].rsplit('/', 1)[-1]} "
        lines = " ".join(ln for ln in narrow.splitlines() if name in ln)
        for text in (f" {r['owner']} ", f" {r['target']:,.2f} ", f" {r['actual']:,.2f} ",
                     f" {r['attainment'] * 100:.1f}% ", f" {r['status']} "):
            assert text in lines, (r["id"], text)
    counts = Counter(r["status"] for r in rows)
    assert ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) + "   (status: " in table
    at_risk = goals_cli.json("goals", "progress", "--as-of", AS_OF.isoformat(), "--status",
                             "at_risk", "--format", "json")
    assert [r["id"] for r in at_risk] == [r["id"] for r in rows if r["status"] == "at_risk"]
    assert at_risk and counts["at_risk"] < len(rows)


def test_progress_after_the_period_and_level_goals(bundled_engine: Engine, csv_data: CsvData
                                                   ) -> None:
    svc = GoalService(bundled_engine, "default")
    svc.apply([
        {"id": "q3", "metric": "won_revenue", "owner": "company", "period": "2017-Q3",
         "target": 3000000},
        {"id": "wr", "metric": "win_rate", "owner": "region:West", "period": "2017-H2",
         "target": "0.60"},
        {"id": "cyc", "metric": "avg_cycle_days", "owner": "company", "period": "2017-Q4",
         "target": 50},
    ])
    rows = {r["id"]: r for r in svc.progress(dt.date(2017, 12, 31))}
    q3 = rows["q3"]
    actual = csv_data.won(dt.date(2017, 7, 1), dt.date(2017, 9, 30))
    assert q3["actual"] == actual and q3["expected_attainment"] == 1
    assert q3["projection"] == actual and q3["projection_run_rate"] == actual
    # level KPIs: pace is 1 all along, the projection is the current level
    west = csv_data.reps_of("region", "West")
    closed = [d for d in csv_data.deals if d.rep in west and d.closed
              and dt.date(2017, 7, 1) <= d.closed <= dt.date(2017, 12, 31)
              and d.stage in ("Won", "Lost")]
    rate = q(D(sum(d.stage == "Won" for d in closed)) / D(len(closed)), 4)
    wr = rows["wr"]
    assert wr["actual"] == rate and wr["expected_attainment"] == 1
    assert wr["attainment"] == q(rate / D("0.60"), 4)
    # lower is better: attainment = target / actual
    won_q4 = [d for d in csv_data.deals if d.stage == "Won" and d.closed and d.engaged
              and dt.date(2017, 10, 1) <= d.closed <= dt.date(2017, 12, 31)]
    cycle = q(D(sum((d.closed - d.engaged).days for d in won_q4 if d.closed and d.engaged))
              / D(len(won_q4)), 2)
    cyc = rows["cyc"]
    assert cyc["direction"] == "down" and cyc["actual"] == cycle
    assert cyc["attainment"] == q(D(50) / cycle, 4)


def test_pacing_math() -> None:
    year = parse_period("2017")
    # linear: the as-of day is included
    ev = evaluate(period=year, as_of=dt.date(2017, 1, 1), target=D(365), stretch=None,
                  direction="up", cumulative=True, actual=D(1), trailing_actual=D(1),
                  trailing_days=90)
    assert ev.expected == D(1) / D(365) and ev.projection == D(365) and ev.status == "on_track"
    # seasonal: months weighted by last year's share, linear inside each month
    months = year.months()
    weights = [(m, D(0) if i < 6 else D(1)) for i, m in enumerate(months)]
    assert seasonal_pace(year, dt.date(2017, 6, 30), weights) == 0
    assert seasonal_pace(year, dt.date(2017, 7, 31), weights) == D(1) / D(6)
    assert seasonal_pace(year, dt.date(2017, 12, 31), weights) == 1
    ev = evaluate(period=year, as_of=dt.date(2017, 9, 30), target=D(600), stretch=None,
                  direction="up", cumulative=True, actual=D(230), trailing_actual=None,
                  trailing_days=90, seasonal_weights=weights)
    assert ev.expected == D("0.5") and ev.projection == 460 and ev.status == "off_track"
    th = Thresholds(on_track=D("0.9"), at_risk=D("0.7"))
    ev = evaluate(period=year, as_of=dt.date(2017, 9, 30), target=D(600), stretch=None,
                  direction="up", cumulative=True, actual=D(230), trailing_actual=None,
                  trailing_days=90, seasonal_weights=weights, th=th)
    assert ev.status == "at_risk"


def test_seasonal_pacing_falls_back_without_history(bundled_engine: Engine) -> None:
    svc = GoalService(bundled_engine, "default")
    svc.add({"id": "s", "metric": "won_revenue", "owner": "company", "period": "2017",
             "target": 10000000, "pacing": "seasonal"})
    row = svc.progress(AS_OF)[0]
    assert row["pacing"] == "linear (seasonal: no history a year earlier)"
    assert row["expected_attainment"] == D("0.6219")


def test_read_commands_accept_json(goals_cli: GoalsCli, csv_data: CsvData) -> None:
    goals_cli("goals", "add", "--id", "g", "--metric", "won_deals", "--owner", "rep:Anna Snelling",
              "--period", "2017-Q3", "--target", "60", "--stretch", "70", "--stretch-reward")
    anna = {"Anna Snelling"}
    q1, q2, q3 = (kpi(csv_data, "won_deals", parse_period(p).start, parse_period(p).end, anna)
                  for p in ("2017-Q1", "2017-Q2", "2017-Q3"))
    assert (q1, q2, q3) == (25, 71, 55)  # the best earlier quarter is Q2: 60 is achievable
    listed = goals_cli.json("goals", "list", "--format", "json")
    assert listed == [{
        "id": "g", "parent": None, "metric": "won_deals", "owner": "rep:Anna Snelling",
        "period": "2017-Q3", "target": 60, "stretch": 70, "stretch_reward": True,
        "kind": "outcome", "direction": "up", "aggregation": "cumulative", "pacing": "linear",
        "pinned": False, "target_basis": None, "cascade": None,
        "notes": ["achievable: best earlier quarter period of rep:Anna Snelling was 2017-Q2 "
                  f"(won_deals {q2})"]}]
    shown = goals_cli.json("goals", "show", "g", "--format", "json")
    assert shown["spec"]["stretch"] == {"target": 70, "reward": True}
    assert shown["cascade_tree"] == [{"id": "g", "parent": None, "depth": 0,
                                      "owner": "rep:Anna Snelling", "period": "2017-Q3",
                                      "metric": "won_deals", "target": 60, "stretch": 70,
                                      "pinned": False, "notes": listed[0]["notes"]}]
    types = goals_cli.json("goals", "types", "--format", "json")
    assert [(t["name"], t["attribution"], t["plugin"]) for t in types] == [
        ("outcome", "closed_on", "goals"), ("activity", "engaged_on", "goals")]
    cfg = goals_cli.json("goals", "config", "--format", "json")
    assert {k: (v["value"], v["source"]) for k, v in cfg.items()} == {
        "achievable_factor": (D("1.5"), "default"), "on_track_ratio": (D("0.95"), "default"),
        "at_risk_ratio": (D("0.80"), "default"), "run_rate_days": (90, "default"),
        "clock": ("event", "default"), "webhook_urls": ([], "default"),
        "webhook_timeout": (5, "default")}
    # at the end of the quarter the pace is 1: score = 55 / 60 = 0.9167 → at_risk
    (row,) = goals_cli.json("goals", "progress", "g", "--as-of", "2017-09-30", "--format", "json")
    assert (row["actual"], row["expected_attainment"], row["status"]) == (q3, 1, "at_risk")
    assert row["attainment"] == q(D(55) / D(60), 4) and row["stretch_attainment"] == q(
        D(55) / D(70), 4)
    table = goals_cli("goals", "progress", "--as-of", "2017-08-15").stdout
    assert "Goal progress as of 2017-08-15" in table
    res = goals_cli("goals", "progress", "--as-of", "15/08/2017", ok=False)
    assert res.exit_code == 2


def test_goal_on_a_disabled_plugin_kpi_is_unavailable(bundled_engine: Engine) -> None:
    svc = GoalService(bundled_engine, "default")
    m = require_example_kpi(svc)
    svc.add({"id": "p", "metric": m.name, "owner": "company", "period": "2017", "target": 5})
    bundled_engine.store.set_plugin_enabled("default", m.plugin, False)
    fresh = Engine(bundled_engine.store, bundled_engine.plugins)
    (row,) = GoalService(fresh, "default").progress(AS_OF)
    assert (row["status"], row["actual"], row["attainment"]) == ("unavailable", None, None)
    assert row["status_rule"] == ("unavailable: KPI big_deal_count is not registered for tenant "
                                  "default (its plugin is missing or disabled)")
