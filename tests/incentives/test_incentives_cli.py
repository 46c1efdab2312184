"""``attain commission …`` on the bundled data."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from .incentives_helpers import EXAMPLES

D = Decimal
DARCEL = "Darcel Schlecht"


def test_run_explain_statement_formats(icli: Any) -> None:
    run = icli.json("commission", "run", "--plan", str(EXAMPLES / "tiered.yaml"), "--period",
                    "2017-Q3", "--format", "json")
    assert run["plan"] == "tiered-2017" and run["plan_version"] == 1
    by_rep = {s["rep"]: s for s in run["statements"]}
    assert len(by_rep) == 35  # every rep of the roster (5 without deals); managers are not paid
    assert by_rep[DARCEL]["total"] == D("20000.00")
    assert run["total"] == sum(s["total"] for s in run["statements"])

    ex = icli.json("commission", "explain", "--rep", "Anna Snelling", "--period", "2017-Q3",
                   "--format", "json")
    assert ex["lines"] and sum(ln["amount"] for ln in ex["lines"]) == ex["total"]
    assert ex["check"]["equals_total"] is True
    line = ex["lines"][0]
    for key in ("deal", "rule", "type", "inputs", "rate", "tier", "amount", "plugin",
                "plugin_version"):
        assert key in line
    assert line["plugin"] == "incentives" and line["inputs"]["deal_amount"] > 0

    st = icli.json("commission", "statement", "--rep", "Anna Snelling", "--period", "2017-Q3",
                   "--format", "json")
    assert (st["rep"], st["period"], st["total"]) == ("Anna Snelling", "2017-Q3", ex["total"])
    assert [ln["amount"] for ln in st["lines"]] == [ln["amount"] for ln in ex["lines"]]
    csv_out = icli("commission", "statement", "--rep", "Anna Snelling", "--period", "2017-Q3",
                   "--format", "csv").stdout
    rows = csv_out.strip().splitlines()
    assert rows[0].startswith("line,rule,type,kind,deal")
    assert rows[-1].split(",")[1] == "TOTAL" and D(rows[-1].split(",")[11]) == st["total"]
    html = icli("commission", "statement", "--rep", "Anna Snelling", "--period", "2017-Q3",
                "--format", "html").stdout
    assert html.startswith("<!doctype html>") and "Anna Snelling" in html
    table = icli("commission", "explain", "--rep", "Anna Snelling", "--period", "2017-Q3").stdout
    assert "sum of" in table and "= total" in table


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


def test_whatif_and_plan_errors(icli: Any, tmp_path: Path) -> None:
    icli("commission", "plan", "load", str(EXAMPLES / "tiered.yaml"))
    w = icli.json("commission", "whatif", "--rep", "Anna Snelling", "--deal-amount", "10000",
                  "--format", "json")
    assert w["period"] == "2017-Q4" and w["you_would_earn"] == w["total_with_deal"] - w[
        "current_total"]
    cmp = icli.json("commission", "whatif", "--rep", "Anna Snelling", "--plan",
                    str(EXAMPLES / "bonuses.yaml"), "--format", "json")
    assert cmp["year"] == 2017 and len(cmp["periods"]) == 4
    assert cmp["delta"] == cmp["total_new"] - cmp["total_current"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("plan: x\nperiod: quarter\nrules:\n  - type: flat_rate\n    rat: 5%\n")
    out = icli("commission", "plan", "validate", str(bad), ok=False)
    assert out.exit_code == 2
    assert f"{bad}:5: rules[0].rat: unknown field" in out.stderr
    assert f"{bad}:4: rules[0].rate: Field required" in out.stderr
    rules = icli.json("commission", "rules", "--format", "json")
    assert {r["name"] for r in rules} >= {"flat_rate", "tiered", "cap", "gate", "spif",
                                          "clawback", "draw", "manager_override"}
    assert {r["plugin"] for r in rules} == {"incentives"}
    split = icli("commission", "split", "--deal", "X", "--share", "a=60", "--share", "b=30",
                 ok=False)
    assert split.exit_code == 2 and "sum to 90%" in split.stderr
