"""``attain goals list / show / cascade / remove / check`` through the CLI, every format with
exact content (targets split by hand, actuals and statuses from the CSV)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from goals.goals_helpers import CsvData, GoalsCli
from goals.goals_reference import kpi, largest_remainder, progress, round_half_even

D = Decimal
WIDE = {"COLUMNS": "250"}
AS_OF = dt.date(2017, 8, 15)
PLAN = """\
goals:
  - id: revenue-2017
    metric: won_revenue
    owner: company
    period: "2017"
    target: 10000000
    stretch: {target: 11000000, reward: true}
    cascade: {periods: quarter}
  - id: east-q3
    metric: won_deals
    owner: region:East
    period: "2017-Q3"
    target: 301
    cascade: {owners: manager}
  - id: darcel-summer
    metric: won_revenue
    owner: rep:Darcel Schlecht
    period: {start: 2017-07-01, end: 2017-09-15}
    target: 400000
  - id: wr
    metric: win_rate
    owner: region:West
    period: "2017-H2"
    target: 0.6
"""
IDS = ["revenue-2017", *(f"revenue-2017/2017-Q{i}" for i in range(1, 5)), "east-q3",
       "east-q3/manager-cara-losch", "east-q3/manager-rocco-neubert", "darcel-summer", "wr"]


def money(v: Decimal) -> str:
    return f"{v:,.2f}"


def apply(goals_cli: GoalsCli, tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    out = goals_cli("goals", "apply", str(plan)).stdout
    for line in ("created: revenue-2017 (+4 cascaded goal(s))",
                 "created: east-q3 (+2 cascaded goal(s))", "created: darcel-summer",
                 "created: wr"):
        assert line in out.splitlines()


def test_list_in_every_format(goals_cli: GoalsCli, tmp_path: Path) -> None:
    apply(goals_cli, tmp_path)
    listed = goals_cli.json("goals", "list", "--format", "json")
    assert [g["id"] for g in listed] == IDS
    by_id = {g["id"]: g for g in listed}
    # equal shares: a quarter of the year's target and stretch; 301 deals over two managers
    # (the unit left over goes to the first)
    for i in range(1, 5):
        g = by_id[f"revenue-2017/2017-Q{i}"]
        assert (g["parent"], g["period"], g["target"], g["stretch"], g["stretch_reward"],
                g["notes"]) == ("revenue-2017", f"2017-Q{i}", 2500000, 2750000, True,
                                ["equal share 1/4"])
    assert [(by_id[i]["owner"], by_id[i]["target"], by_id[i]["notes"]) for i in IDS[6:8]] == [
        ("manager:Cara Losch", 151, ["equal share 1/2"]),
        ("manager:Rocco Neubert", 150, ["equal share 1/2"])]
    assert by_id["east-q3"]["cascade"] == {"periods": None, "owners": ["manager"],
                                           "method": "equal", "period_method": "equal",
                                           "ramp_months": 3}
    assert by_id["darcel-summer"]["period"] == {"start": "2017-07-01", "end": "2017-09-15"}
    assert (by_id["wr"]["aggregation"], by_id["wr"]["target"]) == ("level", D("0.6"))
    roots = goals_cli.json("goals", "list", "--roots", "--format", "json")
    assert [g["id"] for g in roots] == ["revenue-2017", "east-q3", "darcel-summer", "wr"]

    rows = list(csv.DictReader(io.StringIO(goals_cli("goals", "list", "--format",
                                                     "csv").stdout)))
    assert [[*list(r.values())[:5], D(r["target"]), D(r["stretch"]) if r["stretch"] else None,
             r["kind"], r["pinned"]] for r in rows] == [
        [g["id"], g["parent"] or "", g["metric"], g["owner"],
         "2017-07-01..2017-09-15" if g["id"] == "darcel-summer" else g["period"],
         g["target"], g["stretch"], g["kind"], str(g["pinned"])] for g in listed]
    assert list(rows[0]) == ["id", "parent", "metric", "owner", "period", "target", "stretch",
                             "kind", "pinned"]

    table = goals_cli("goals", "list", env=WIDE).stdout
    assert "Goals (tenant default): 10" in table
    lines = table.splitlines()

    def row(name: str) -> str:
        return next(ln for ln in lines if f"│ {name} " in ln)

    assert "10,000,000.00" in row("revenue-2017") and "11,000,000.00 ★" in row("revenue-2017")
    assert "2,500,000.00" in row("  2017-Q3") and "2,750,000.00 ★" in row("  2017-Q3")
    assert " 151.00 " in row("  manager-cara-losch")
    assert "2017-07-01..2017-09-15" in row("darcel-summer") and "400,000.00" in row(
        "darcel-summer")
    assert " 0.6 " in row("wr") and "win_rate" in row("wr")


def test_show_cascade_and_remove(goals_cli: GoalsCli, tmp_path: Path, csv_data: CsvData) -> None:
    apply(goals_cli, tmp_path)
    table = goals_cli("goals", "show", "revenue-2017", env=WIDE).stdout
    for text in ("2017 (2017-01-01 … 2017-12-31, 365 days)", "10,000,000.00",
                 "11,000,000.00 (reward)", "Cascade (children always add up"):
        assert text in table, text
    tree_line = next(ln for ln in table.splitlines() if "│ revenue-2017 " in ln)
    assert tree_line.count("10,000,000.00") == 2 and " 0 " in tree_line  # target, sum, gap 0

    # rebuild east-q3's cascade down to its reps: 301 deals in whole units, equal shares
    east = sorted(r for r, (_, region) in csv_data.teams.items() if region == "East")
    shares = largest_remainder(D(301), [Fraction(1)] * len(east), D(1))
    tree = goals_cli.json("goals", "cascade", "east-q3", "--owners", "rep", "--format", "json")
    assert tree[0] == {"id": "east-q3", "parent": None, "depth": 0, "owner": "region:East",
                       "period": "2017-Q3", "metric": "won_deals", "target": 301,
                       "stretch": None, "pinned": False, "notes": tree[0]["notes"],
                       "children": len(east), "children_sum": 301, "gap": 0}
    slug = {r: "rep-" + r.lower().replace(" ", "-") for r in east}
    assert [(t["id"], t["owner"], t["target"], t["depth"]) for t in tree[1:]] == [
        (f"east-q3/{slug[r]}", f"rep:{r}", s, 1) for r, s in zip(east, shares, strict=True)]
    assert sorted(set(shares)) == [D(301 // len(east)), D(301 // len(east) + 1)]
    listed = [g["id"] for g in goals_cli.json("goals", "list", "--format", "json")]
    assert "east-q3/manager-cara-losch" not in listed
    assert [g for g in listed if g.startswith("east-q3/")] == [f"east-q3/{slug[r]}" for r in east]
    shown = goals_cli.json("goals", "show", "east-q3", "--format", "json")
    assert shown["cascade"]["owners"] == ["rep"]  # the spec given is saved with the goal

    out = goals_cli("goals", "cascade", "revenue-2017", "--periods", "month", env=WIDE).stdout
    assert out.splitlines()[0] == "cascaded revenue-2017: 12 goal(s)"
    months = goals_cli.json("goals", "show", "revenue-2017", "--format", "json")["cascade_tree"]
    # 10,000,000.00 in cents over 12: 4 months get the 4 cents left over; the stretch 8
    assert [(m["target"], m["stretch"]) for m in months[1:]] == (
        [(D("833333.34"), D("916666.67"))] * 4 + [(D("833333.33"), D("916666.67"))] * 4
        + [(D("833333.33"), D("916666.66"))] * 4)
    assert (months[0]["children_sum"], months[0]["gap"]) == (D(10000000), 0)

    bad = goals_cli("goals", "cascade", "darcel-summer", ok=False)
    assert bad.exit_code == 2 and ("cascade: the goal has no cascade spec; give --periods "
                                   "and/or --owners") in bad.stderr
    bad = goals_cli("goals", "cascade", "east-q3", "--method", "magic", ok=False)
    assert bad.exit_code == 2 and "error: cascade: method:" in bad.stderr
    bad = goals_cli("goals", "cascade", "nope", "--owners", "rep", ok=False)
    assert bad.exit_code == 2 and "no goal 'nope' in tenant 'default'" in bad.stderr

    out = goals_cli("goals", "remove", "east-q3").stdout
    assert out.strip() == f"removed {1 + len(east)} goal(s)"
    assert [g["id"] for g in goals_cli.json("goals", "list", "--format", "json")] == [
        "revenue-2017", *(f"revenue-2017/2017-{m:02d}" for m in range(1, 13)), "darcel-summer",
        "wr"]
    bad = goals_cli("goals", "remove", "east-q3", ok=False)
    assert bad.exit_code == 2 and "no goal 'east-q3' in tenant 'default'" in bad.stderr


def test_check_reports_transitions(goals_cli: GoalsCli, tmp_path: Path, csv_data: CsvData
                                   ) -> None:
    apply(goals_cli, tmp_path)
    listed = {g["id"]: g for g in goals_cli.json("goals", "list", "--format", "json")}
    want = {}
    for gid, g in listed.items():
        if gid == "wr":  # a level KPI: pace 1 once started, score = attainment
            rate = kpi(csv_data, "win_rate", dt.date(2017, 7, 1), AS_OF,
                       csv_data.reps_of("region", "West"))
            assert rate is not None
            score = Fraction(rate) / Fraction(6, 10)
            status = "on_track" if score >= Fraction(95, 100) else \
                "at_risk" if score >= Fraction(80, 100) else "off_track"
            want[gid] = (status, round_half_even(score, 4), round_half_even(Fraction(1), 4))
            continue
        p = g["period"]
        start, end = ((dt.date.fromisoformat(p["start"]), dt.date.fromisoformat(p["end"]))
                      if isinstance(p, dict) else _bounds(p))
        r = progress(csv_data, g["metric"], g["owner"], start, end, g["target"], AS_OF)
        want[gid] = (r["status"], r["attainment"], r["expected_attainment"])
    out = goals_cli("goals", "check", "--as-of", AS_OF.isoformat()).stdout
    # a goal's first evaluation is a transition from no status
    assert out.splitlines() == [
        f"{gid}: – → {s} (attainment {_plain(a)}, pace {_plain(p)})"
        for gid, (s, a, p) in want.items()]
    assert {s for s, _, _ in want.values()} >= {"on_track", "not_started"}
    again = goals_cli("goals", "check", "--as-of", AS_OF.isoformat()).stdout
    assert again.strip() == "no status changed as of 2017-08-15"


def _bounds(label: str) -> tuple[dt.date, dt.date]:
    """Start and end of a year ("2017"), half ("2017-H2") or quarter ("2017-Q3")."""
    year = int(label[:4])
    if len(label) == 4:
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    months = 6 if label[5] == "H" else 3
    first = (int(label[6]) - 1) * months + 1
    last = first + months - 1
    end = (dt.date(year + 1, 1, 1) if last == 12 else dt.date(year, last + 1, 1))
    return dt.date(year, first, 1), end - dt.timedelta(days=1)


def _plain(v: Decimal | None) -> str:
    """How the CLI prints a figure: integral values with thousands separators."""
    if v is None:
        return "–"
    return format(v, ",f") if v == v.to_integral_value() else format(v, "f")
