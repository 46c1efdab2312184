"""`attain plan quotas`: rep quotas add up to team, region and company quotas; new reps ramp."""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
from collections import defaultdict
from decimal import Decimal

from goals.goals_helpers import CsvData, GoalsCli
from goals.goals_reference import kpi, quota_plan

D = Decimal
YEAR_2017 = (dt.date(2017, 1, 1), dt.date(2017, 12, 31))


def money(v: Decimal) -> str:
    return f"{v:,.2f}"


def test_quota_plan_sums_and_ramps(goals_cli: GoalsCli, csv_data: CsvData) -> None:
    plan = goals_cli.json("plan", "quotas", "--year", "2018", "--growth", "10%", "--format", "json")
    base = csv_data.won(*YEAR_2017)
    assert plan["base_actual"] == base == D(10005534)
    assert plan["target"] == D("11006087.40")
    reps = plan["reps"]
    assert sorted(r["rep"] for r in reps) == sorted(csv_data.teams)
    # exact sums at every level
    assert sum((r["quota"] for r in reps), D(0)) == plan["quota_total"] == plan["company"]["quota"]
    teams: dict[str, Decimal] = defaultdict(D)
    regions: dict[str, Decimal] = defaultdict(D)
    for r in reps:
        teams[r["manager"]] += r["quota"]
        regions[r["region"]] += r["quota"]
    assert {t["manager"]: t["quota"] for t in plan["teams"]} == dict(teams)
    assert {g["region"]: g["quota"] for g in plan["regions"]} == dict(regions)
    assert sum((t["quota"] for t in plan["teams"]), D(0)) == plan["quota_total"]
    assert plan["gap"] == plan["target"] - plan["quota_total"]
    # existing reps: last year's won revenue + 10 % (to the cent)
    with_deals = {d.rep for d in csv_data.deals}
    for r in reps:
        if r["rep"] in with_deals:
            assert not r["new"] and r["capacity"] == 1
            own = csv_data.won(*YEAR_2017, {r["rep"]})
            assert abs(r["quota"] - own * D("1.1")) <= D("0.01"), r["rep"]
    # new reps (on the roster, no deal): team median × ramped capacity × 1.1
    new = [r for r in reps if r["new"]]
    assert sorted(r["rep"] for r in new) == sorted(set(csv_data.teams) - with_deals)
    ramp = D(31 * 1 + 28 * 2 + 31 * 3) / D(4 * 365) + D(365 - 90) / D(365)  # 1/4, 2/4, 3/4, 1…
    for r in new:
        peers = [csv_data.won(*YEAR_2017, {p}) for p in csv_data.reps_of("manager", r["manager"])
                 if p in with_deals]
        median = D(statistics.median(peers))
        assert r["capacity"] == ramp.quantize(D("0.0001"))
        assert abs(r["quota"] - median * ramp * D("1.1")) <= D("0.01"), r["rep"]
        assert r["quota"] < median * D("1.1")  # ramping: less than a full-year quota
    # win rates turn quotas into the closed pipeline needed
    anna = next(r for r in reps if r["rep"] == "Anna Snelling")
    closed = [d for d in csv_data.deals if d.rep == "Anna Snelling" and d.closed
              and YEAR_2017[0] <= d.closed <= YEAR_2017[1]]
    rate = (D(sum(d.stage == "Won" for d in closed)) / D(len(closed))).quantize(D("0.0001"))
    assert anna["win_rate"] == rate
    assert anna["pipeline_needed"] == (anna["quota"] / rate).quantize(D("0.01"))


def test_quota_plan_options(goals_cli: GoalsCli) -> None:
    full = goals_cli.json("plan", "quotas", "--year", "2018", "--growth", "0.10",
                          "--ramp-months", "0", "--format", "json")
    ramped = goals_cli.json("plan", "quotas", "--year", "2018", "--growth", "0.10",
                            "--format", "json")
    new_full = {r["rep"]: r["quota"] for r in full["reps"] if r["new"]}
    new_ramped = {r["rep"]: r["quota"] for r in ramped["reps"] if r["new"]}
    assert all(new_ramped[r] < new_full[r] for r in new_full)
    assert all(r["capacity"] == 1 for r in full["reps"])
    matched = goals_cli.json("plan", "quotas", "--year", "2018", "--growth", "10%",
                             "--match-target", "--format", "json")
    assert matched["quota_total"] == matched["target"] and matched["gap"] == 0
    assert sum((r["quota"] for r in matched["reps"]), D(0)) == matched["target"]
    table = goals_cli("plan", "quotas", "--year", "2018", "--growth", "10%").stdout
    assert "Capacity gap" in table and "Target 2018: 11,006,087.40" in table
    res = goals_cli("plan", "quotas", "--year", "2017", "--growth", "10%", ok=False)
    assert res.exit_code == 2 and "no won_revenue in 2016 to plan 2017 from" in res.stderr


def test_quota_plan_matches_the_csv_in_every_format(goals_cli: GoalsCli, csv_data: CsvData
                                                    ) -> None:
    want = quota_plan(csv_data, 2018, D("0.10"))
    plan = goals_cli.json("plan", "quotas", "--year", "2018", "--growth", "10%", "--format",
                          "json")
    for key in ("year", "base_year", "target", "base_actual", "capacity_quota", "quota_total",
                "gap", "coverage", "method"):
        assert plan[key] == want[key], key
    assert (plan["growth"], plan["ramp_months"], plan["metric"]) == (D("0.10"), 3, "won_revenue")
    assert [{k: r[k] for k in want["reps"][0]} for r in plan["reps"]] == want["reps"]
    assert plan["teams"] == want["teams"] and plan["regions"] == want["regions"]
    new = [r["rep"] for r in want["reps"] if r["new"]]
    assert plan["company"] == {"reps": 35, "new_reps": 5, "base_actual": want["base_actual"],
                               "quota": want["quota_total"],
                               "win_rate": kpi(csv_data, "win_rate", *YEAR_2017, None),
                               "avg_deal_size": kpi(csv_data, "avg_deal_size", *YEAR_2017, None)}
    assert plan["notes"] == [
        "new reps (on the roster, no deal at all): " + ", ".join(sorted(new)),
        "new reps ramp over 3 month(s) from 2018-01-01: month k at k/4, then full capacity"]
    assert want["gap"] == D("-1571976.07")  # the figure docs/goals.md quotes

    rows = list(csv.DictReader(io.StringIO(goals_cli(
        "plan", "quotas", "--year", "2018", "--growth", "10%", "--format", "csv").stdout)))
    columns = ["region", "manager", "rep", "new", "capacity", "base_actual", "win_rate",
               "quota", "pipeline_needed", "deals_needed"]
    assert list(rows[0]) == columns

    def typed(row: dict[str, str]) -> dict[str, object]:  # CSV cells back to values
        return {c: (v == "True" if c == "new" else v if c in ("region", "manager", "rep")
                    else D(v) if v else None) for c, v in row.items()}

    assert [typed(r) for r in rows] == [{c: r[c] for c in columns} for r in want["reps"]]

    table = goals_cli("plan", "quotas", "--year", "2018", "--growth", "10%",
                      env={"COLUMNS": "250"}).stdout
    for r in want["reps"]:
        line = next(ln for ln in table.splitlines() if f" {r['rep']} " in ln)
        assert f" {money(r['quota'])} " in line and f" {money(r['base_actual'])} " in line
    for t in want["teams"]:
        line = next(ln for ln in table.splitlines() if f" {t['manager']} team " in ln)
        assert f"{t['reps']} reps" in line and money(t["quota"]) in line
    assert (f"Target 2018: {money(want['target'])} = 2017 won_revenue "
            f"{money(want['base_actual'])} × 1.10") in table
    assert (f"Quotas (capacity): {money(want['quota_total'])} over 35 reps (5 new), coverage "
            f"{want['coverage'] * 100:.1f}%") in table
    assert (f"Capacity gap: {money(want['gap'])} — the quotas exceed the target by "
            f"{money(-want['gap'])} (over-assignment).") in table

    matched = goals_cli.json("plan", "quotas", "--year", "2018", "--growth", "10%",
                             "--match-target", "--format", "json")
    exact = quota_plan(csv_data, 2018, D("0.10"), match_target=True)
    assert [r["quota"] for r in matched["reps"]] == [r["quota"] for r in exact["reps"]]
    assert (matched["method"], matched["gap"]) == ("match-target", 0)
    no_ramp = goals_cli.json("plan", "quotas", "--year", "2018", "--growth", "-5%",
                             "--ramp-months", "0", "--format", "json")
    flat = quota_plan(csv_data, 2018, D("-0.05"), ramp_months=0)
    assert [(r["rep"], r["capacity"], r["quota"]) for r in no_ramp["reps"]] == [
        (r["rep"], r["capacity"], r["quota"]) for r in flat["reps"]]
    assert (no_ramp["target"], no_ramp["gap"]) == (flat["target"], flat["gap"])
