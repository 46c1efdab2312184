"""``attain commission run / explain / statement / whatif`` on the bundled data: every figure of
every output format against the independent reference (reference.py)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

from . import reference as ref
from .incentives_helpers import EXAMPLES, round_half_even
from .sample_plans import as_ln

D = Decimal
DARCEL = "Darcel Schlecht"
ANNA = "Anna Snelling"
Q3 = next(p for p in ref.quarters(2017) if p.key == "2017-Q3")
Q4 = next(p for p in ref.quarters(2017) if p.key == "2017-Q4")
WIDE = {"COLUMNS": "250"}  # tables are wide; the figures must not be folded


def money(v: Decimal) -> str:
    """How tables print money: thousands separators and two decimals."""
    return f"{v:,.2f}"


def total(lines: list[ref.Ln]) -> Decimal:
    return sum((ln.amount for ln in lines), D(0))


def test_run_formats_match_the_reference(icli: Any, ref_book: ref.Book,
                                         csv_teams: dict[str, str]) -> None:
    expected = {rep: ref.tiered_plan(ref_book, rep, Q3) for rep in csv_teams}
    table = icli("commission", "run", "--plan", str(EXAMPLES / "tiered.yaml"), "--period",
                 "2017-Q3", env=WIDE).stdout
    assert "Commission run 2017-Q3" in table
    rows = {ln.split("│")[1].strip(): ln for ln in table.splitlines() if ln.count("│") > 5}
    for rep, lines in expected.items():
        assert f" {money(total(lines))} │" in rows[rep], rep
        assert "created" in rows[rep] and "tiered-2017" in rows[rep]

    run = icli.json("commission", "run", "--plan", str(EXAMPLES / "tiered.yaml"), "--period",
                    "2017-Q3", "--format", "json")
    assert (run["period"], run["plan"], run["plan_version"]) == ("2017-Q3", "tiered-2017", 1)
    # every rep of the roster (5 without deals); managers are not paid by this plan
    assert {s["rep"]: (s["status"], s["total"], s["previous_total"], s["lines"])
            for s in run["statements"]} == {
        rep: ("unchanged", total(lines), total(lines), len(lines))
        for rep, lines in expected.items()}
    assert run["total"] == sum((total(lines) for lines in expected.values()), D(0))
    assert dict((s["rep"], s["total"]) for s in run["statements"])[DARCEL] == D("20000.00")

    csv_rows = list(csv.DictReader(io.StringIO(icli(
        "commission", "run", "--period", "2017-Q3", "--format", "csv").stdout)))
    assert {r["rep"]: (r["status"], D(r["total"])) for r in csv_rows} == {
        rep: ("unchanged", total(lines)) for rep, lines in expected.items()}


def test_explain_and_statement_formats_match_the_reference(icli: Any, ref_book: ref.Book,
                                                           csv_deals: list[Any]) -> None:
    icli("commission", "run", "--plan", str(EXAMPLES / "tiered.yaml"), "--period", "2017-Q3")
    lines = ref.tiered_plan(ref_book, ANNA, Q3)
    want = total(lines)
    credited = sum((c.amount for c in ref_book.credits_of(ANNA, Q3)), D(0))
    by_id = {d.id: d for d in csv_deals}

    ex = icli.json("commission", "explain", "--rep", ANNA, "--period", "2017-Q3",
                   "--format", "json")
    assert [as_ln(d, {"tiers"}) for d in ex["lines"]] == lines
    assert ex["total"] == want and ex["check"] == {"sum_of_lines": want, "equals_total": True}
    by_rule: dict[str, Decimal] = {}
    for ln in lines:
        by_rule[ln.rule] = by_rule.get(ln.rule, D(0)) + ln.amount
    assert ex["by_rule"] == by_rule
    assert (ex["rep"], ex["period"], ex["status"], ex["revision"], ex["plan"],
            ex["plan_version"]) == (ANNA, "2017-Q3", "draft", 1, "tiered-2017", 1)
    assert (ex["quota"], ex["credited"], ex["deals"]) == (
        D(80000), credited, len(ref_book.credits_of(ANNA, Q3)))
    assert ex["attainment_pct"] == round_half_even(credited * 100 / D(80000), 2)
    for d in ex["lines"]:
        deal = by_id[d["deal"]]
        assert d["inputs"]["deal_amount"] == D(deal.value)
        assert d["inputs"]["closed_on"] == deal.closed.isoformat()
        assert d["inputs"]["product"] == deal.product_name
        assert d["inputs"]["deal_type"] == ref_book.deal_type(ref_book.deals[deal.id])
        assert (d["plugin"], d["plugin_version"]) == ("incentives", "0.1.0")

    st = icli.json("commission", "statement", "--rep", ANNA, "--period", "2017-Q3",
                   "--format", "json")
    assert [as_ln(d, {"tiers"}) for d in st["lines"]] == lines and st["total"] == want
    assert "check" not in st and st["status"] == "draft"

    for command in ("statement", "explain"):
        out = icli("commission", command, "--rep", ANNA, "--period", "2017-Q3", "--format",
                   "csv").stdout
        rows = list(csv.DictReader(io.StringIO(out)))
        assert [(r["line"], r["rule"], r["deal"], D(r["amount"])) for r in rows[:-1]] == [
            (str(i), ln.rule, ln.deal, ln.amount) for i, ln in enumerate(lines, start=1)]
        assert (rows[-1]["rule"], D(rows[-1]["amount"])) == ("TOTAL", want)

    html = icli("commission", "statement", "--rep", ANNA, "--period", "2017-Q3",
                "--format", "html").stdout
    assert html.startswith("<!doctype html>")
    assert f"<title>Commission statement {ANNA} 2017-Q3</title>" in html
    assert f'<td class="num">{money(want)}</td>' in html  # the total row
    assert html.count("<tr><td") == len(lines)
    for ln in lines:
        assert f'<td class="num">{money(ln.amount)}</td>' in html

    table = icli("commission", "explain", "--rep", ANNA, "--period", "2017-Q3", env=WIDE).stdout
    assert f"credited {money(credited)} of quota 80,000.00" in table
    assert f"sum of {len(lines)} lines = {money(want)} = total" in table
    assert "by rule: " + ", ".join(f"{k} {money(v)}" for k, v in by_rule.items()) in table
    for ln in lines:
        assert ln.deal is not None and ln.deal in table


def test_workflow_lock_and_accruals_from_the_cli(icli: Any) -> None:
    icli("commission", "run", "--plan", str(EXAMPLES / "flat-rate.yaml"), "--period", "2017-Q2")
    bad = icli("commission", "approve", "--rep", DARCEL, "--period", "2017-Q2", "--by", "bob",
               ok=False)
    assert bad.exit_code == 2 and "Melvin Marxen" in bad.stderr
    icli("commission", "approve", "--rep", DARCEL, "--period", "2017-Q2", "--by", "Melvin Marxen")
    out = icli.json("commission", "signoff", "--rep", DARCEL, "--period", "2017-Q2",
                    "--format", "json")
    assert out["status"] == "signed_off"
    icli("commission", "lock", "--period", "2017-Q2", "--by", "finance")
    periods = icli.json("commission", "periods", "--format", "json")
    assert [p["period"] for p in periods if p["locked"]] == ["2017-Q2"]
    inq = icli.json("commission", "inquiry", "open", "--rep", DARCEL, "--period", "2017-Q2",
                    "--line", "1", "--text", "wrong rate?", "--format", "json")
    res = icli.json("commission", "inquiry", "resolve", str(inq["id"]), "--adjust", "12.34",
                    "--reply", "fixed", "--by", "Melvin Marxen", "--format", "json")
    assert res["status"] == "adjusted"
    adjs = icli.json("commission", "explain", "--rep", DARCEL, "--period", "2017-Q3", "--fresh",
                     "--format", "json")
    assert [ln["amount"] for ln in adjs["lines"] if ln["kind"] == "adjustment"] == [D("12.34")]
    rebuilt = icli("commission", "accruals", "--rebuild", "--format", "json")
    assert "rebuilt" in rebuilt.stderr
    audit = icli.json("commission", "audit", "--format", "json")
    actions = {a["action"] for a in audit}
    assert {"plan.stored", "statement.approved", "statement.signed_off", "period.locked",
            "inquiry.opened", "inquiry.resolved", "adjustment.booked"} <= actions


def test_whatif_figures_match_the_reference(icli: Any, ref_book: ref.Book,
                                            csv_teams: dict[str, str]) -> None:
    icli("commission", "plan", "load", str(EXAMPLES / "tiered.yaml"))
    # one more deal of 10,000 closing at the end of the latest period with deals (2017-Q4)
    extra = ref.Deal("~what-if", ANNA, D(10000), dt.date(2017, 12, 31))
    with_deal = ref.Book([*ref_book.deals.values(), extra], csv_teams)
    before = ref.tiered_plan(ref_book, ANNA, Q4)
    after = ref.tiered_plan(with_deal, ANNA, Q4)
    earn = total(after) - total(before)
    credited = sum((c.amount for c in ref_book.credits_of(ANNA, Q4)), D(0))
    w = icli.json("commission", "whatif", "--rep", ANNA, "--deal-amount", "10000",
                  "--format", "json")
    assert (w["rep"], w["period"], w["plan"], w["plan_version"], w["deal_amount"]) == (
        ANNA, "2017-Q4", "tiered-2017", 1, D(10000))
    assert (w["current_total"], w["total_with_deal"], w["you_would_earn"]) == (
        total(before), total(after), earn)
    assert earn > 0 and w["effective_rate"] == round_half_even(earn / D(10000), 4)
    assert w["attainment_pct_before"] == round_half_even(credited * 100 / D(80000), 2)
    assert w["attainment_pct_after"] == round_half_even((credited + 10000) * 100 / D(80000), 2)
    assert [(d["rule"], d["deal"], d["amount"]) for d in w["lines"]] == [
        (ln.rule, ln.deal, ln.amount) for ln in after if ln.deal == "~what-if"]
    text = icli("commission", "whatif", "--rep", ANNA, "--deal-amount", "10000").stdout
    assert (f"closing 10,000.00 pays {money(earn)}" in text
            and f"statement {money(total(before))} → {money(total(after))}" in text)

    # a year replayed under another plan, next to the current one
    cmp = icli.json("commission", "whatif", "--rep", ANNA, "--plan",
                    str(EXAMPLES / "bonuses.yaml"), "--format", "json")
    quarters = ref.quarters(2017)
    current = [total(ref.tiered_plan(ref_book, ANNA, q)) for q in quarters]
    new = [total(ref.bonuses_plan(ref_book, ANNA, q)) for q in quarters]
    assert (cmp["rep"], cmp["year"], cmp["plan"]) == (ANNA, 2017, "bonuses-2017")
    assert cmp["periods"] == [
        {"period": q.key, "current_plan": "tiered-2017", "current": c, "new": n, "delta": n - c}
        for q, c, n in zip(quarters, current, new, strict=True)]
    assert (cmp["total_current"], cmp["total_new"], cmp["delta"]) == (
        sum(current, D(0)), sum(new, D(0)), sum(new, D(0)) - sum(current, D(0)))
    text = icli("commission", "whatif", "--rep", ANNA, "--plan", str(EXAMPLES / "bonuses.yaml"),
                env=WIDE).stdout
    assert (f"total: current {money(sum(current, D(0)))}, with bonuses-2017 "
            f"{money(sum(new, D(0)))}" in text)


def test_plan_errors_rules_and_split_errors(icli: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("plan: x\nperiod: quarter\nrules:\n  - type: flat_rate\n    rat: 5%\n")
    out = icli("commission", "plan", "validate", str(bad), ok=False)
    assert out.exit_code == 2
    assert f"{bad}:5: rules[0].rat: unknown field" in out.stderr
    assert f"{bad}:4: rules[0].rate: Field required" in out.stderr
    ok = icli("commission", "plan", "validate", str(EXAMPLES / "tiered.yaml")).stdout
    assert ok.strip() == (f"{EXAMPLES / 'tiered.yaml'}: plan 'tiered-2017' is valid: 5 rules "
                          "(tiered, accelerator, decelerator, gate, cap), paid by quarter")
    rules = icli.json("commission", "rules", "--format", "json")
    assert [r["name"] for r in rules] == sorted([
        "flat_rate", "tiered", "accelerator", "decelerator", "gate", "cap", "milestone_bonus",
        "stretch_bonus", "spif", "manager_override", "clawback", "draw"])
    assert {(r["plugin"], r["plugin_version"]) for r in rules} == {("incentives", "0.1.0")}
    assert {r["name"]: r["roles"] for r in rules if r["roles"] != "rep"} == {
        "manager_override": "manager", "clawback": "manager, rep", "draw": "manager, rep"}
    split = icli("commission", "split", "--deal", "X", "--share", "a=60", "--share", "b=30",
                 ok=False)
    assert split.exit_code == 2 and "sum to 90%" in split.stderr
