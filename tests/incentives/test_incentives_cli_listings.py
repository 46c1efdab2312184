"""The incentives listings and bookkeeping commands through the CLI, with exact content in every
format: ``plan load/list``, ``assign``, ``assignments``, ``run`` without ``--plan``,
``statements``, ``approve``, ``adjust``, ``lock``, ``periods``, ``inquiry open/list/resolve``,
``accruals`` and ``audit``. Statement figures come from the reference (reference.py)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

from . import reference as ref
from .incentives_helpers import EXAMPLES

D = Decimal
ANNA, DARCEL = "Anna Snelling", "Darcel Schlecht"
ANNA_MANAGER = "Dustin Brinkmann"
Q3, Q4 = ref.quarters(2017)[2:]
WIDE = {"COLUMNS": "250"}


def money(v: Decimal) -> str:
    return f"{v:,.2f}"


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def total(lines: list[ref.Ln]) -> Decimal:
    return sum((ln.amount for ln in lines), D(0))


def load_plans(icli: Any, tmp_path: Path) -> Path:
    """tiered.yaml as version 1, then a correction with the same effective_from (a 90,000
    quota) as version 2; returns the corrected file."""
    tiered = EXAMPLES / "tiered.yaml"
    out = icli("commission", "plan", "load", str(tiered), "--by", "ops").stdout
    assert out.strip() == "stored plan 'tiered-2017' version 1 (effective 2017-01-01 – …)"
    v2 = tmp_path / "tiered-v2.yaml"
    v2.write_text(tiered.read_text().replace("quota: 80000 ", "quota: 90000 "))
    assert "quota: 90000" in v2.read_text()
    out = icli("commission", "plan", "load", str(v2), "--by", "ops").stdout
    assert out.strip() == "stored plan 'tiered-2017' version 2 (effective 2017-01-01 – …)"
    # the same content again stores nothing new
    assert "version 1 " in icli("commission", "plan", "load", str(tiered)).stdout
    return v2


def test_plans_assignments_statements_adjustments_and_audit(icli: Any, ref_book: ref.Book,
                                                             csv_teams: dict[str, str],
                                                             tmp_path: Path) -> None:
    v2 = load_plans(icli, tmp_path)
    plans = icli.json("commission", "plan", "list", "--format", "json")
    assert [(p["plan"], p["version"], p["effective_from"], p["effective_to"], p["period"],
             p["source"]) for p in plans] == [
        ("tiered-2017", 1, "2017-01-01", None, "quarter", str(EXAMPLES / "tiered.yaml")),
        ("tiered-2017", 2, "2017-01-01", None, "quarter", str(v2))]
    assert len({p["checksum"] for p in plans}) == 2 and all(len(p["checksum"]) == 12
                                                             for p in plans)
    assert icli.json("commission", "plan", "list", "--name", "other", "--format", "json") == []
    rows = csv_rows(icli("commission", "plan", "list", "--format", "csv").stdout)
    assert [(r["plan"], r["version"], r["checksum"]) for r in rows] == [
        (p["plan"], str(p["version"]), p["checksum"]) for p in plans]
    table = icli("commission", "plan", "list", env=WIDE).stdout
    assert "Plan versions" in table and all(p["checksum"] in table for p in plans)

    # a named assignment from Q4 on, with its own quota, recorded as a batch of its own
    out = icli("commission", "assign", "--rep", ANNA, "--plan", "tiered-2017", "--start",
               "2017-10-01", "--quota", "50000", "--by", "ops").stdout
    assert out.strip() == f"{ANNA} → tiered-2017 (2017-10-01 – …, quota 50000)"
    bad = icli("commission", "assign", "--rep", ANNA, "--plan", "nope", ok=False)
    assert bad.exit_code == 2 and "no plan named 'nope'" in bad.stderr
    bad = icli("commission", "assign", "--rep", ANNA, "--plan", "tiered-2017", "--start",
               "2017-10-01", "--end", "2017-09-30", ok=False)
    assert bad.exit_code == 2 and "end is before start" in bad.stderr
    history = icli.json("commission", "assignments", "--format", "json")
    assert [(a["batch"], a["rep"], a["plan"], a["start"], a["end"], a["quota"], a["origin"])
            for a in history] == [
        (1, "*", "tiered-2017", "2017-01-01", None, None, "plan tiered-2017 v1"),
        (1, DARCEL, "tiered-2017", "2017-01-01", None, 200000, "plan tiered-2017 v1"),
        (2, ANNA, "tiered-2017", "2017-10-01", None, 50000, "assign")]
    anna = icli.json("commission", "assignments", "--rep", ANNA, "--format", "json")
    assert [(a["batch"], a["rep"]) for a in anna] == [(1, "*"), (2, ANNA)]
    rows = csv_rows(icli("commission", "assignments", "--format", "csv").stdout)
    assert [(r["batch"], r["rep"], r["quota"]) for r in rows] == [
        ("1", "*", ""), ("1", DARCEL, "200000"), ("2", ANNA, "50000")]
    table = icli("commission", "assignments", env=WIDE).stdout
    assert "200,000.00" in table and "50,000.00" in table and "assign" in table

    # run without --plan: every assigned payee under the version in force (v2: 90,000), with
    # Darcel's and (from Q4) Anna's assignment quotas
    def quota(rep: str, q: ref.Period) -> Decimal:
        if rep == DARCEL:
            return D(200000)
        return D(50000) if rep == ANNA and q == Q4 else D(90000)

    expected = {(rep, q.key): ref.tiered_plan(ref_book, rep, q, quota(rep, q))
                for rep in csv_teams for q in (Q3, Q4)}
    for q in (Q4, Q3):
        run = icli.json("commission", "run", "--period", q.key, "--by", "ops", "--format", "json")
        assert run["plan"] is None
        assert {s["rep"]: (s["status"], s["total"], s["plan_version"])
                for s in run["statements"]} == {
            rep: ("created", total(expected[(rep, q.key)]), 2) for rep in csv_teams}
    icli("commission", "approve", "--rep", ANNA, "--period", "2017-Q4", "--by", ANNA_MANAGER)
    listed = icli.json("commission", "statements", "--format", "json")
    assert [(s["period"], s["rep"]) for s in listed] == sorted((p, r) for r, p in expected)
    for s in listed:
        approved = (s["rep"], s["period"]) == (ANNA, "2017-Q4")
        assert (s["status"], s["locked"], s["revision"], s["total"], s["plan"],
                s["plan_version"], s["approved_total"]) == (
            "approved" if approved else "draft", False, 1, total(expected[(s["rep"], s["period"])]),
            "tiered-2017", 2, s["total"] if approved else None), s
    anna_q4 = total(expected[(ANNA, "2017-Q4")])
    only = icli.json("commission", "statements", "--period", "2017-Q4", "--rep", ANNA,
                     "--format", "json")
    assert [(s["rep"], s["status"], s["total"]) for s in only] == [(ANNA, "approved", anna_q4)]
    rows = csv_rows(icli("commission", "statements", "--period", "2017-Q3", "--format",
                         "csv").stdout)
    assert {r["rep"]: D(r["total"]) for r in rows} == {
        rep: total(expected[(rep, "2017-Q3")]) for rep in csv_teams}
    table = icli("commission", "statements", "--rep", ANNA, env=WIDE).stdout
    assert money(anna_q4) in table and money(total(expected[(ANNA, "2017-Q3")])) in table

    # a manual adjustment of an approved statement: paid in that period, which needs
    # re-approval; one for a locked period is paid in the first open one
    adj = icli.json("commission", "adjust", "--rep", ANNA, "--period", "2017-Q4", "--amount",
                    "-120.50", "--reason", "returned goods", "--by", "ops", "--format", "json")
    assert (adj["rep"], adj["period"], adj["source_period"], adj["amount"], adj["reason"]) == (
        ANNA, "2017-Q4", "2017-Q4", D("-120.50"), "returned goods")
    assert (adj["statement"]["status"], adj["statement"]["previous_total"],
            adj["statement"]["total"]) == ("needs_reapproval", anna_q4, anna_q4 - D("120.50"))
    st = icli.json("commission", "statement", "--rep", ANNA, "--period", "2017-Q4",
                   "--format", "json")
    assert [(d["rule"], d["kind"], d["amount"], d["note"]) for d in st["lines"]][-1] == (
        "manual", "adjustment", D("-120.50"), "returned goods")
    assert st["difference"]["delta"] == D("-120.50")
    bad = icli("commission", "adjust", "--rep", ANNA, "--period", "2017-Q4", "--amount",
               "0.001", "--reason", "x", ok=False)
    assert bad.exit_code == 2 and "an adjustment is an amount in cents" in bad.stderr
    out = icli("commission", "lock", "--period", "2017-Q3", "--by", "finance").stdout
    assert out.strip() == "2017-Q3 locked (0 statement(s) computed before locking)"
    out = icli("commission", "adjust", "--rep", DARCEL, "--period", "2017-Q3", "--amount", "50",
               "--reason", "late SPIF", "--by", "ops").stdout
    assert out.strip().endswith(f": 50.00 for {DARCEL} paid in 2017-Q4")
    darcel_q4 = icli.json("commission", "statement", "--rep", DARCEL, "--period", "2017-Q4",
                          "--format", "json")
    assert darcel_q4["total"] == total(expected[(DARCEL, "2017-Q4")]) + 50
    assert [(d["rule"], d["amount"], d["source_period"]) for d in darcel_q4["lines"]
            if d["kind"] == "adjustment"] == [("manual", D(50), "2017-Q3")]
    periods = icli.json("commission", "periods", "--format", "json")
    assert [(p["period"], p["locked"], p["locked_by"], p["statements"]) for p in periods] == [
        ("2017-Q3", True, "finance", 35), ("2017-Q4", False, None, 35)]
    rows = csv_rows(icli("commission", "periods", "--format", "csv").stdout)
    assert [(r["period"], r["locked"], r["statements"]) for r in rows] == [
        ("2017-Q3", "True", "35"), ("2017-Q4", "False", "35")]

    audit = icli.json("commission", "audit", "--limit", "200", "--format", "json")
    actions = [(a["action"], a["actor"], a["rep"], a["period"]) for a in reversed(audit)]
    assert actions == [
        ("plan.stored", "ops", None, None), ("assignments.recorded", "ops", None, None),
        ("plan.stored", "ops", None, None), ("assignment.recorded", "ops", ANNA, None),
        *[("statement.computed", "ops", rep, "2017-Q4") for rep in sorted(csv_teams)],
        *[("statement.computed", "ops", rep, "2017-Q3") for rep in sorted(csv_teams)],
        ("statement.approved", ANNA_MANAGER, ANNA, "2017-Q4"),
        ("adjustment.booked", "ops", ANNA, "2017-Q4"),
        ("statement.computed", "ops", ANNA, "2017-Q4"),
        ("period.locked", "finance", None, "2017-Q3"),
        ("adjustment.booked", "ops", DARCEL, "2017-Q4"),
        ("statement.computed", "ops", DARCEL, "2017-Q4")]
    assert audit[1]["details"] == {"amount": "50", "reason": "late SPIF",
                                   "source_period": "2017-Q3"}
    assert audit[-1]["details"] == {"plan": "tiered-2017", "version": 1,
                                    "source": str(EXAMPLES / "tiered.yaml")}
    newest = icli.json("commission", "audit", "--limit", "2", "--format", "json")
    assert [a["action"] for a in newest] == ["statement.computed", "adjustment.booked"]
    rows = csv_rows(icli("commission", "audit", "--limit", "2", "--format", "csv").stdout)
    assert [(r["action"], r["rep"]) for r in rows] == [("statement.computed", DARCEL),
                                                      ("adjustment.booked", DARCEL)]
    table = icli("commission", "audit", "--limit", "2", env=WIDE).stdout
    assert "Audit log" in table and "adjustment.booked" in table and "late SPIF" in table


def test_inquiries_and_accruals(icli: Any, ref_book: ref.Book, csv_teams: dict[str, str]
                                ) -> None:
    icli("commission", "run", "--plan", str(EXAMPLES / "tiered.yaml"), "--period", "2017-Q4")
    lines = ref.tiered_plan(ref_book, ANNA, Q4)
    first = icli.json("commission", "inquiry", "open", "--rep", ANNA, "--period", "2017-Q4",
                      "--line", "2", "--text", "rate?", "--format", "json")
    assert (first["rep"], first["period"], first["revision"], first["line"], first["status"],
            first["raised_by"]) == (ANNA, "2017-Q4", 1, 2, "open", ANNA)
    assert (first["disputed"]["deal"], first["disputed"]["amount"]) == (lines[1].deal,
                                                                        lines[1].amount)
    out = icli("commission", "inquiry", "open", "--rep", DARCEL, "--period", "2017-Q4", "--text",
               "missing deal", "--by", DARCEL).stdout
    second_id = int(out.split()[1])
    assert out.strip() == f"inquiry {second_id} opened on {DARCEL} 2017-Q4 line –"
    bad = icli("commission", "inquiry", "open", "--rep", ANNA, "--period", "2017-Q4", "--line",
               "999", "--text", "x", ok=False)
    assert bad.exit_code == 2 and f"the statement has lines 1–{len(lines)}" in bad.stderr
    icli("commission", "inquiry", "resolve", str(first["id"]), "--reply", "tier 2",
         "--by", ANNA_MANAGER)
    listed = icli.json("commission", "inquiry", "list", "--format", "json")
    assert [(i["id"], i["rep"], i["line"], i["status"], i["reply"], i["resolved_by"], i["text"])
            for i in listed] == [
        (first["id"], ANNA, 2, "answered", "tier 2", ANNA_MANAGER, "rate?"),
        (second_id, DARCEL, None, "open", None, None, "missing deal")]
    assert [i["id"] for i in icli.json("commission", "inquiry", "list", "--status", "open",
                                       "--format", "json")] == [second_id]
    assert [i["id"] for i in icli.json("commission", "inquiry", "list", "--rep", ANNA,
                                       "--format", "json")] == [first["id"]]
    rows = csv_rows(icli("commission", "inquiry", "list", "--format", "csv").stdout)
    assert [(r["id"], r["status"], r["line"]) for r in rows] == [
        (str(first["id"]), "answered", "2"), (str(second_id), "open", "")]
    table = icli("commission", "inquiry", "list", env=WIDE).stdout
    assert "Inquiries" in table and "missing deal" in table and "tier 2" in table

    # accruals: nothing was ingested since the plan was loaded; a rebuild writes them all
    assert icli.json("commission", "accruals", "--format", "json") == []
    res = icli("commission", "accruals", "--rebuild", "--period", "2017-Q4", "--format", "json")
    assert "rebuilt 35 accrual(s)" in res.stderr
    acc = [r for r in csv_rows(icli("commission", "accruals", "--format", "csv").stdout)]
    want = {rep: (ref.tiered_plan(ref_book, rep, Q4), ref_book.credits_of(rep, Q4))
            for rep in csv_teams}
    assert {r["rep"]: (r["period"], D(r["total"]), D(r["credited"]), int(r["deals"]), r["plan"])
            for r in acc} == {
        rep: ("2017-Q4", total(ls), sum((c.amount for c in cs), D(0)), len(cs), "tiered-2017")
        for rep, (ls, cs) in want.items()}
    table = icli("commission", "accruals", "--period", "2017-Q4", env=WIDE).stdout
    assert all(money(total(ls)) in table for ls, _ in want.values())
