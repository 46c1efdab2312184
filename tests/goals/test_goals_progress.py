"""Progress (actual, pace, projections, status) matches figures computed from the CSV with plain
Python."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pytest
from attain.core.engine import Engine
from attain.plugins.goals.periods import parse_period
from attain.plugins.goals.service import GoalService
from attain.plugins.goals.tracking import Thresholds, evaluate, seasonal_pace

from goals.goals_helpers import CsvData, GoalsCli

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


def expected_row(csv: CsvData, owner: str, start: dt.date, end: dt.date, target: Decimal,
                 as_of: dt.date) -> dict[str, object]:
    """The figures of a won_revenue goal, computed from the CSV alone."""
    if owner == "company":
        reps = None
    else:
        kind, name = owner.split(":", 1)
        reps = {name} if kind == "rep" else csv.reps_of(kind, name)
    days = (end - start).days + 1
    elapsed = 0 if as_of < start else (min(as_of, end) - start).days + 1
    actual = csv.won(start, min(as_of, end), reps) if elapsed else D(0)
    pace = D(elapsed) / D(days)
    attainment = actual / target
    trailing = csv.won(as_of - dt.timedelta(days=89), as_of, reps)
    run_rate = actual + trailing * D(days - elapsed) / D(90) if as_of < end else actual
    out: dict[str, object] = {"actual": actual, "attainment": q(attainment, 4),
                              "expected_attainment": q(pace, 4),
                              "projection": q(actual * days / elapsed, 2) if elapsed else None,
                              "projection_run_rate": q(run_rate, 2)}
    if not elapsed:
        out["status"] = "not_started"
    else:
        score = attainment / pace
        out["status"] = ("on_track" if score >= D("0.95") else
                         "at_risk" if score >= D("0.80") else "off_track")
    return out


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
        exp = expected_row(csv_data, r["owner"], period.start, period.end, r["target"], AS_OF)
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


def test_read_commands_accept_json(goals_cli: GoalsCli) -> None:
    goals_cli("goals", "add", "--id", "g", "--metric", "won_deals", "--owner", "rep:Anna Snelling",
              "--period", "2017-Q3", "--target", "60", "--stretch", "70", "--stretch-reward")
    listed = goals_cli.json("goals", "list", "--format", "json")
    assert listed[0]["id"] == "g" and listed[0]["stretch_reward"] is True
    shown = goals_cli.json("goals", "show", "g", "--format", "json")
    assert shown["spec"]["stretch"] == {"target": 70, "reward": True}
    assert goals_cli.json("goals", "types", "--format", "json")[0]["name"] in ("outcome", "activity")
    cfg = goals_cli.json("goals", "config", "--format", "json")
    assert cfg["on_track_ratio"]["value"] == D("0.95") and cfg["clock"]["source"] == "default"
    assert goals_cli.json("goals", "progress", "g", "--as-of", "2017-09-30", "--format",
                          "json")[0]["status"] in ("on_track", "at_risk", "off_track")
    table = goals_cli("goals", "progress", "--as-of", "2017-08-15").stdout
    assert "Goal progress as of 2017-08-15" in table
    res = goals_cli("goals", "progress", "--as-of", "15/08/2017", ok=False)
    assert res.exit_code == 2


def test_goal_on_a_disabled_plugin_kpi_is_unavailable(bundled_engine: Engine) -> None:
    svc = GoalService(bundled_engine, "default")
    plugin_kpis = [m for m in svc.metrics().values() if m.plugin != "core"]
    if not plugin_kpis:
        pytest.skip("no plugin KPI installed besides the core's")
    m = plugin_kpis[0]
    svc.add({"id": "p", "metric": m.name, "owner": "company", "period": "2017", "target": 5})
    bundled_engine.store.set_plugin_enabled("default", m.plugin, False)
    fresh = Engine(bundled_engine.store, bundled_engine.plugins)
    row = GoalService(fresh, "default").progress(AS_OF)[0]
    assert row["status"] == "unavailable" and m.name in row["status_rule"]
