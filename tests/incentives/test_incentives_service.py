"""Plans, assignments, statements, locking, adjustments, clawbacks, workflow, what-if, accruals
through the service and the event engine (SQLite)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from attain.core.engine import Engine, Record
from attain.core.models import Rep
from attain.plugins.incentives.periods import Period
from attain.plugins.incentives.service import Incentives, IncentivesError

from .incentives_helpers import churn_event, deal_event

D = Decimal
Q1, Q2, Q3, Q4 = (Period.parse(f"2017-Q{i}") for i in range(1, 5))

PLAN = """plan: core
effective_from: 2017-01-01
period: quarter
quota: 1000
payees: all
rules:
  - id: tiers
    type: tiered
    tiers: [{to_pct: 100, rate: 4%}, {from_pct: 100, rate: 6%}]
  - {id: claw, type: clawback, within_days: 90}
"""


def ingest(engine: Engine, events: list[dict[str, Any]]) -> None:
    res = engine.process([Record(e) for e in events], tenant="default")
    assert res.rejected == 0, res


def write(tmp_path: Path, text: str, name: str = "plan.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.fixture
def setup(engine: Engine, svc: Incentives, tmp_path: Path) -> Incentives:
    engine.save_dimensions("default", reps=[Rep(name="ann", manager="meg"),
                                            Rep(name="bob", manager="meg")])
    svc.load_plan(write(tmp_path, PLAN), actor="ops")
    ingest(engine, [
        deal_event("a1", 1, "ann", "open"),
        deal_event("a1", 2, "ann", "won", "800", "2017-01-10"),
        deal_event("a2", 1, "ann", "won", "500", "2017-02-10"),
        deal_event("b1", 1, "bob", "won", "300", "2017-03-01"),
        deal_event("a3", 1, "ann", "won", "250", "2017-04-05", account="acme"),
    ])
    svc.refresh()
    return svc


def total_of_lines(st: dict[str, Any]) -> Decimal:
    return sum((ln["amount"] for ln in st["lines"]), D(0))


def test_statement_and_explain_sum_exactly_with_provenance(setup: Incentives) -> None:
    svc = setup
    out = {o.payee: o for o in svc.run(Q1, actor="ops")}
    assert set(out) == {"ann", "bob"}  # the manager has no deals and the plan pays reps only
    # ann: 800 at 4 %, then 200 at 4 % and 300 at 6 % (a2 crosses the 1000 quota)
    assert out["ann"].total == D("32.00") + D("8.00") + D("18.00")
    st = svc.statement("ann", Q1)
    assert st["status"] == "draft" and st["revision"] == 1
    assert st["total"] == total_of_lines(st) == D("58.00")
    assert st["attainment_pct"] == D("130.00") and st["credited"] == D(1300)
    ex = svc.explain("ann", Q1)
    assert ex["check"] == {"sum_of_lines": D("58.00"), "equals_total": True}
    assert [(ln["deal"], ln["tier"], ln["rate"], ln["basis"], ln["amount"]) for ln in ex["lines"]
            ] == [("a1", "0-100%", D("0.04"), D(800), D("32.00")),
                  ("a2", "0-100%", D("0.04"), D(200), D("8.00")),
                  ("a2", "100%+", D("0.06"), D(300), D("18.00"))]
    first = ex["lines"][0]
    assert first["plugin"] == "incentives" and first["plugin_version"] == "0.1.0"
    assert first["inputs"]["deal_amount"] == D(800)
    assert first["inputs"]["closed_on"] == "2017-01-10"


def test_plan_versions_are_never_overwritten_and_effective_dated(setup: Incentives,
                                                                 tmp_path: Path) -> None:
    svc = setup
    assert svc.load_plan(write(tmp_path, PLAN)).version == 1  # same content: same version
    v2 = svc.load_plan(write(tmp_path, PLAN.replace("effective_from: 2017-01-01",
                                                    "effective_from: 2017-04-01")
                             .replace("rate: 4%", "rate: 5%"), "v2.yaml"))
    assert v2.version == 2
    assert [(r["plan"], r["version"]) for r in svc.plan_versions()] == [("core", 1), ("core", 2)]
    svc.refresh()
    assert svc.plan_book().resolve("ann", Q1).plan.version == 1  # type: ignore[union-attr]
    assert svc.plan_book().resolve("ann", Q2).plan.version == 2  # type: ignore[union-attr]
    with pytest.raises(IncentivesError, match="version 1 is already stored with different"):
        svc.load_plan(write(tmp_path, "version: 1\n" + PLAN.replace("quota: 1000", "quota: 9"),
                            "clash.yaml"))


def test_assignments_are_effective_dated_history(setup: Incentives) -> None:
    svc = setup
    svc.assign("ann", "core", start=Period.parse("2017-04").start, quota=D(200), actor="ops")
    book = svc.plan_book()
    assert book.resolve("ann", Q1).quota is None  # type: ignore[union-attr]  # plan default
    assert book.resolve("ann", Q2).quota == D(200)  # type: ignore[union-attr]
    hist = svc.assignments("ann")
    assert [(h["rep"], h["quota"]) for h in hist] == [("*", None), ("ann", D(200))]
    # Q2: a3 250 on a 200 quota → 200 at 4 %, 50 at 6 %
    svc.run(Q2)
    assert svc.statement("ann", Q2)["total"] == D("8.00") + D("3.00")


def test_locked_periods_never_change_and_changes_become_adjustments(setup: Incentives,
                                                                   engine: Engine) -> None:
    svc = setup
    svc.run(Q1)
    svc.lock(Q1, actor="ops")
    locked = svc.statement("ann", Q1)
    assert locked["locked"] and locked["total"] == D("58.00")
    # a correction of a Q1 deal arrives after the lock
    ingest(engine, [deal_event("a2", 2, "ann", "won", "700", "2017-02-10")])
    svc.refresh()
    out = {o.payee: o for o in svc.run(Q1)}
    assert out["ann"].status == "locked" and "adjustment in 2017-Q2" in (out["ann"].message or "")
    assert svc.statement("ann", Q1)["total"] == D("58.00")  # frozen
    svc.run(Q2)
    q2 = svc.statement("ann", Q2)
    adj = [ln for ln in q2["lines"] if ln["kind"] == "adjustment"]
    # Q1 now: 800 + 200 at 4 %, 500 at 6 % = 70.00; booked 58.00
    assert [(ln["rule"], ln["source_period"], ln["amount"]) for ln in adj] == [
        ("recalc", "2017-Q1", D("12.00"))]
    assert q2["total"] == D("10.00") + D("12.00")  # a3 250 at 4 % + the adjustment
    assert [o.status for o in svc.run(Q2) if o.payee == "ann"] == ["unchanged"]
    # once Q2 is locked too, the adjustment counts as booked: nothing more in Q3
    svc.lock(Q2)
    svc.run(Q3)
    assert not [ln for ln in svc.explain("ann", Q3, fresh=True)["lines"]
                if ln["kind"] == "adjustment"]
    # another change to Q1: now paid in the first open period, Q3
    ingest(engine, [deal_event("a2", 3, "ann", "won", "600", "2017-02-10")])
    svc.refresh()
    svc.run(Q3)
    adj = [ln for ln in svc.statement("ann", Q3)["lines"] if ln["kind"] == "adjustment"]
    assert [(ln["source_period"], ln["amount"]) for ln in adj] == [("2017-Q1", D("-6.00"))]


def test_clawback_lands_in_the_loss_period_or_the_first_open_one(setup: Incentives,
                                                                  engine: Engine) -> None:
    svc = setup
    svc.run(Q1)
    ingest(engine, [deal_event("a2", 2, "ann", "lost", "0", "2017-04-20")])  # 69 days later
    svc.refresh()
    st = svc.explain("ann", Q2, fresh=True)
    claw = [ln for ln in st["lines"] if ln["rule"] == "claw"]
    # a2 earned 8.00 + 18.00 in Q1; Q1 itself is unchanged
    assert [(ln["deal"], ln["amount"], ln["source_period"]) for ln in claw] == [
        ("a2", D("-26.00"), "2017-Q1")]
    assert svc.explain("ann", Q1, fresh=True)["total"] == D("58.00")
    # churn: a3's account churns 30 days after closing, but Q2 is locked by then
    svc.run(Q2)
    svc.lock(Q2)
    ingest(engine, [churn_event("acme", "2017-05-05")])
    svc.refresh()
    svc.run(Q3)
    adj = [ln for ln in svc.statement("ann", Q3)["lines"] if ln["kind"] == "adjustment"]
    assert [(ln["source_period"], ln["amount"]) for ln in adj] == [("2017-Q2", D("-10.00"))]


def test_approval_workflow_and_reapproval_diff(setup: Incentives, engine: Engine,
                                               notes: list[tuple[str, dict[str, Any]]]) -> None:
    svc = setup
    svc.run(Q1)
    with pytest.raises(IncentivesError, match="signoff|approved by the manager"):
        svc.signoff("ann", Q1)
    with pytest.raises(IncentivesError, match="approved by their manager meg, not bob"):
        svc.approve("ann", Q1, by="bob")
    assert svc.approve("ann", Q1, by="meg")["status"] == "approved"
    assert [o.status for o in svc.run(Q1) if o.payee == "ann"] == ["unchanged"]
    with pytest.raises(IncentivesError, match="only ann"):
        svc.signoff("ann", Q1, by="bob")
    assert svc.signoff("ann", Q1, by="ann")["status"] == "signed_off"
    ingest(engine, [deal_event("a1", 3, "ann", "won", "900", "2017-01-10")])
    svc.refresh()
    out = [o for o in svc.run(Q1) if o.payee == "ann"][0]
    assert (out.status, out.previous_total, out.total) == ("needs_reapproval", D("58.00"),
                                                            D("64.00"))
    st = svc.statement("ann", Q1)
    assert st["status"] == "needs_reapproval" and st["revision"] == 2
    diff = st["difference"]
    assert (diff["approved_total"], diff["total"], diff["delta"]) == (D("58.00"), D("64.00"),
                                                                       D("6.00"))
    assert {(x["deal"], x["amount"]) for x in diff["added"]} == {
        ("a1", D("36.00")), ("a2", D("4.00")), ("a2", D("24.00"))}
    assert svc.statement("ann", Q1, revision=1)["total"] == D("58.00")  # history kept
    assert svc.approve("ann", Q1, by="meg")["status"] == "approved"
    kinds = [k for k, _ in notes]
    assert "statement.approved" in kinds and "statement.needs_reapproval" in kinds


def test_inquiries_resolved_by_reply_or_adjustment(setup: Incentives) -> None:
    svc = setup
    svc.run(Q1)
    svc.approve("ann", Q1, by="meg")
    inq = svc.open_inquiry("ann", Q1, 2, "a2 should be at the higher rate")
    assert inq["disputed"]["deal"] == "a2" and inq["status"] == "open"
    assert svc.statement("ann", Q1)["open_inquiries"] == 1
    answered = svc.resolve_inquiry(inq["id"], "meg", reply="the first 200 are below quota")
    assert answered["status"] == "answered"
    inq2 = svc.open_inquiry("ann", Q1, 3, "missing SPIF")
    adjusted = svc.resolve_inquiry(inq2["id"], "meg", reply="goodwill", amount=D("25.00"))
    assert adjusted["status"] == "adjusted" and adjusted["adjustment_id"]
    st = svc.statement("ann", Q1)
    assert st["status"] == "needs_reapproval" and st["total"] == D("83.00")
    assert st["lines"][-1]["kind"] == "adjustment" and st["lines"][-1]["amount"] == D("25.00")
    with pytest.raises(IncentivesError, match="already"):
        svc.resolve_inquiry(inq2["id"], "meg", reply="again")
    # adjusting a locked period pays it in the first open one
    svc.lock(Q1)
    out = svc.adjust("bob", Q1, D("-5.50"), "returned goods")
    assert out["period"] == "2017-Q2" and out["source_period"] == "2017-Q1"
    with pytest.raises(IncentivesError, match="cents"):
        svc.adjust("bob", Q2, D("0.001"), "x")


def test_whatif_and_plan_comparison(setup: Incentives, tmp_path: Path) -> None:
    svc = setup
    res = svc.whatif("ann", D(1000), Q1)
    # ann has 1300 of 1000: a new deal of 1000 is all above quota at 6 %
    assert (res["current_total"], res["total_with_deal"], res["you_would_earn"]) == (
        D("58.00"), D("118.00"), D("60.00"))
    assert res["effective_rate"] == D("0.0600")
    assert res["attainment_pct_after"] == D("230.00")
    flat = svc.parse_plan(write(tmp_path, "plan: flat\nperiod: quarter\nrules:\n"
                                "  - {type: flat_rate, rate: 5%}\n", "flat.yaml"))[0]
    cmp = svc.compare("ann", flat, 2017)
    assert [(r["period"], r["current"], r["new"]) for r in cmp["periods"]] == [
        ("2017-Q1", D("58.00"), D("65.00")), ("2017-Q2", D("10.00"), D("12.50")),
        ("2017-Q3", D("0"), D("0")), ("2017-Q4", D("0"), D("0"))]
    assert cmp["delta"] == D("9.50")
    # the what-if deal is not left behind
    assert "~what-if" not in svc.calculator().facts


def test_live_accruals_follow_deal_events(setup: Incentives, engine: Engine) -> None:
    ingest(engine, [deal_event("b2", 1, "bob", "won", "1000", "2017-03-15")])
    acc = {(a["rep"], a["period"]): a for a in setup.accruals()}
    # bob: 300 + 700 at 4 %, 300 at 6 %
    assert acc[("bob", "2017-Q1")]["total"] == D("12.00") + D("28.00") + D("18.00")
    ingest(engine, [deal_event("b2", 2, "bob", "lost", "0", "2017-04-02")])
    acc = {(a["rep"], a["period"]): a for a in setup.accruals()}
    assert acc[("bob", "2017-Q2")]["total"] == D("-46.00")  # clawed back in Q2
    assert acc[("bob", "2017-Q1")]["total"] == D("58.00")  # Q1 keeps the win
    # the accruals agree with statements computed from scratch
    svc2 = Incentives(engine, "default")
    for (rep, period), a in acc.items():
        assert svc2.compute(rep, Period.parse(period)).total == a["total"], (rep, period)
