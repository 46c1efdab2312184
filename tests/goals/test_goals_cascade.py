"""Cascades over periods and owners always add up exactly; editing a child re-balances."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from attain.core.engine import Engine
from attain.plugins.goals.model import Goal, GoalError
from attain.plugins.goals.service import GoalService

from goals.goals_helpers import CsvData, GoalsCli

D = Decimal

PLAN = """\
goals:
  - id: revenue-2017
    metric: won_revenue
    owner: company               # company | region:East | manager:NAME | rep:NAME
    period: "2017"               # "2017" | "2017-Q3" | "2017-07" | {start: ..., end: ...}
    target: 10000000             # or {growth: 0.10, baseline: "2016"}
    stretch: 11000000            # optional
    cascade: {periods: quarter, owners: rep, method: history}   # optional; equal | capacity | history
"""


def assert_adds_up(goals: list[Goal]) -> int:
    """Every node's children add up to it exactly (targets and stretches); returns #parents."""
    kids: dict[str, list[Goal]] = defaultdict(list)
    for g in goals:
        if g.parent:
            kids[g.parent].append(g)
    by_id = {g.id: g for g in goals}
    for pid, ks in kids.items():
        parent = by_id[pid]
        assert sum((k.target for k in ks), D(0)) == parent.target, pid
        if parent.stretch is not None:
            assert sum((k.stretch or D(0) for k in ks), D(0)) == parent.stretch, pid
        for k in ks:
            assert k.target == k.target.quantize(D("0.01")) and k.target >= 0
    return len(kids)


def test_plan_yaml_cascades_to_quarters_and_reps_exactly(goals_cli: GoalsCli, tmp_path: Path,
                                                         bundled_url: str, csv_data: CsvData
                                                         ) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    out = goals_cli("goals", "apply", str(plan)).stdout
    assert "created: revenue-2017 (+144 cascaded goal(s))" in out

    from attain.core.store import Store
    store = Store(bundled_url)
    try:
        from attain.core.plugins import get_plugins
        svc = GoalService(Engine(store, get_plugins()), "default")
        goals = svc.goals()
    finally:
        store.dispose()
    roster = sorted(csv_data.teams)
    quarters = [g for g in goals if g.parent == "revenue-2017"]
    assert [q.period.label for q in quarters] == ["2017-Q1", "2017-Q2", "2017-Q3", "2017-Q4"]
    assert all(q.target == D(2500000) and q.stretch == D(2750000) for q in quarters)
    for q in quarters:
        reps = [g for g in goals if g.parent == q.id]
        assert sorted(g.owner.removeprefix("rep:") for g in reps) == roster
    assert assert_adds_up(goals) == 5
    leaves = [g for g in goals if g.owner.startswith("rep:")]
    assert len(leaves) == 4 * 35
    assert sum((g.target for g in leaves), D(0)) == D(10000000)

    # history method: each rep's share of won revenue in the same period a year earlier; there
    # is none (no deal closed in 2016), so in all the history before the quarter: for Q3 the
    # deals closed 2017-03-01 (the first close) … 2017-06-30; for Q1 (no history before it at
    # all) in all the data.
    for quarter, start, end in (("2017-Q3", dt.date(2017, 3, 1), dt.date(2017, 6, 30)),
                                ("2017-Q1", dt.date(2017, 1, 1), dt.date(2017, 12, 31))):
        total = csv_data.won(start, end)
        by_rep = {g.owner.removeprefix("rep:"): g for g in goals
                if g.parent == f"revenue-2017/{quarter}"}
        for rep, g in by_rep.items():
            share = csv_data.won(start, end, {rep}) / total
            assert abs(g.target - D(2500000) * share) <= D("0.01"), (quarter, rep)
            assert f"history share {share:.2%}" in g.notes[0]
    q3_reps = {g.owner.removeprefix("rep:"): g.target for g in goals
               if g.parent == "revenue-2017/2017-Q3"}
    new_reps = set(roster) - {d.rep for d in csv_data.deals}
    assert len(new_reps) == 5 and all(q3_reps[r] == 0 for r in new_reps)

    # the CLI shows every node's children sum and a zero gap
    tree = goals_cli.json("goals", "show", "revenue-2017", "--format", "json")["cascade_tree"]
    parents = [r for r in tree if "children" in r]
    assert len(parents) == 5 and all(r["gap"] == 0 for r in parents)
    assert all(r["children_sum"] == r["target"] for r in parents)

    # re-applying the same plan changes nothing
    assert "unchanged: revenue-2017" in goals_cli("goals", "apply", str(plan)).stdout


def _svc(engine: Engine) -> GoalService:
    return GoalService(engine, "default")


def test_capacity_cascade_ramps_new_reps(bundled_engine: Engine, csv_data: CsvData) -> None:
    svc = _svc(bundled_engine)
    svc.add({"id": "cap", "metric": "won_revenue", "owner": "company", "period": "2017",
             "target": "9000000.01",
             "cascade": {"owners": ["region", "rep"], "method": "capacity", "ramp_months": 3}})
    goals = svc.subtree("cap")
    assert_adds_up(goals)
    with_deals = {d.rep for d in csv_data.deals}
    # independent figures: existing reps weigh 1, new reps (no deal) ramp 1/4, 2/4, 3/4 in
    # January–March 2017 (weighted by days), then 1
    new_cap = Fraction(31 * 1, 4 * 365) + Fraction(28 * 2, 4 * 365) + Fraction(31 * 3, 4 * 365) \
        + Fraction(365 - 90, 365)
    caps = {r: (Fraction(1) if r in with_deals else new_cap) for r in csv_data.teams}
    total_cap = sum(caps.values(), Fraction(0))
    regions = {g.owner.removeprefix("region:"): g for g in goals if g.parent == "cap"}
    for name, g in regions.items():
        reps = csv_data.reps_of("region", name)
        exact = Fraction(D("9000000.01")) * sum((caps[r] for r in reps), Fraction(0)) / total_cap
        assert abs(Fraction(g.target) - exact) <= Fraction(1, 100)
        kids = {k.owner.removeprefix("rep:"): k.target for k in goals if k.parent == g.id}
        assert set(kids) == reps
        full = [t for r, t in kids.items() if r in with_deals]
        ramped = [t for r, t in kids.items() if r not in with_deals]
        assert max(full) - min(full) <= D("0.01")  # equal capacity, equal share (± a cent)
        for t in ramped:
            assert abs(Fraction(t) / Fraction(full[0]) - new_cap) < Fraction(1, 10000)


def test_seasonal_periods_follow_last_years_shares(bundled_engine: Engine, csv_data: CsvData
                                                   ) -> None:
    svc = _svc(bundled_engine)
    svc.add({"id": "s", "metric": "won_revenue", "owner": "company", "period": "2018",
             "target": 12000000, "stretch": 13000000,
             "cascade": {"periods": "month", "period_method": "seasonal"}})
    months = [g for g in svc.subtree("s") if g.parent == "s"]
    assert len(months) == 12 and assert_adds_up(svc.subtree("s")) == 1
    last = [csv_data.won(m.period.start.replace(year=2017), m.period.end.replace(year=2017))
            for m in months]
    total = sum(last, D(0))
    assert months[0].target == 0 and months[1].target == 0  # no deal closed Jan/Feb 2017
    for m, v in zip(months, last, strict=True):
        assert abs(m.target - D(12000000) * v / total) <= D("0.01")
    # equal and days methods for comparison
    svc.add({"id": "e", "metric": "won_revenue", "owner": "company", "period": "2017",
             "target": 1000, "cascade": {"periods": "quarter"}})
    assert [g.target for g in svc.subtree("e")[1:]] == [D(250)] * 4
    svc.add({"id": "d", "metric": "won_revenue", "owner": "company", "period": "2017",
             "target": 365, "cascade": {"periods": "quarter", "period_method": "days"}})
    assert [g.target for g in svc.subtree("d")[1:]] == [D(90), D(91), D(92), D(92)]


def test_counts_cascade_in_whole_units_and_levels_copy(bundled_engine: Engine) -> None:
    svc = _svc(bundled_engine)
    svc.add({"id": "n", "metric": "won_deals", "owner": "manager:Cara Losch", "period": "2017-Q4",
             "target": 100, "cascade": {"owners": "rep"}})
    kids = svc.subtree("n")[1:]
    assert len(kids) == 6 and sorted(k.target for k in kids) == [D(16)] * 2 + [D(17)] * 4
    svc.add({"id": "w", "metric": "win_rate", "owner": "region:West", "period": "2017",
             "target": "0.65", "cascade": {"owners": "manager"}})
    assert [k.target for k in svc.subtree("w")[1:]] == [D("0.65"), D("0.65")]


def test_editing_a_child_rebalances_siblings(bundled_engine: Engine) -> None:
    svc = _svc(bundled_engine)
    svc.add({"id": "r", "metric": "won_revenue", "owner": "company", "period": "2017",
             "target": 1000000, "stretch": 1200000,
             "cascade": {"periods": "quarter", "owners": "region"}})
    rep = svc.set_target("r/2017-Q3", D("400000"))
    assert rep["mode"] == "rebalanced" and rep["gap"] == 0
    assert {s["id"]: s["new"] for s in rep["siblings"]} == {
        "r/2017-Q1": D("200000.00"), "r/2017-Q2": D("200000.00"), "r/2017-Q4": D("200000.00")}
    goals = svc.subtree("r")
    assert assert_adds_up(goals) == 5  # quarters and every quarter's regions follow
    q3 = svc.get("r/2017-Q3")
    assert q3.pinned and q3.target == D(400000)
    # a second edit leaves the pinned Q3 alone and spreads the rest over Q2 and Q4
    rep = svc.set_target("r/2017-Q1", D("100000"))
    assert {s["id"]: s["new"] for s in rep["siblings"]} == {
        "r/2017-Q2": D("250000.00"), "r/2017-Q4": D("250000.00")}
    assert svc.get("r/2017-Q3").target == D(400000)
    assert_adds_up(svc.subtree("r"))
    # more than the parent can give is refused with a clear message
    with pytest.raises(GoalError, match="exceeds the parent r target 1000000 by 1"):
        svc.set_target("r/2017-Q2", D("500001"))
    # with --keep-siblings the siblings stay and the gap is reported
    rep = svc.set_target("r/2017-Q4", D("300000"), keep_siblings=True)
    assert rep["mode"] == "kept" and rep["gap"] == D(50000) and rep["siblings"] == []
    assert sum((g.target for g in svc.subtree("r") if g.parent == "r"), D(0)) == D(1050000)
    q4_regions = [g for g in svc.subtree("r") if g.parent == "r/2017-Q4"]
    assert sum((g.target for g in q4_regions), D(0)) == D(300000)  # its own cascade follows
    tree = {r["id"]: r for r in svc.tree_rows("r")}
    assert tree["r"]["gap"] == D(50000)


def test_edit_via_cli_reports(goals_cli: GoalsCli) -> None:
    goals_cli("goals", "add", "--id", "x", "--metric", "won_revenue", "--owner", "region:East",
              "--period", "2017-Q4", "--target", "300000", "--cascade-owners", "manager")
    out = goals_cli("goals", "set-target", "x/manager-cara-losch", "100000").stdout
    assert "x/manager-cara-losch: 150000.00 → 100000 (rebalanced)" in out
    assert "sibling x/manager-rocco-neubert: 150000.00 → 200000.00" in out
    assert "gap 0" in out
    res = goals_cli("goals", "set-target", "x/manager-cara-losch", "50000", "--keep-siblings")
    assert "gap -50000" in res.stderr
