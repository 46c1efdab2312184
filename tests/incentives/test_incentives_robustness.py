"""What a user sees when commissions cannot be computed or a plan file is wrong, through the
CLI on SQLite and PostgreSQL: a run with failed statements exits 1 and says each distinct
reason once; NaN/infinite numbers and rates above 100 % are plan validation errors naming the
line and field (exit 2), never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from attain.core import cli as cli_module
from attain.core.plugins import get_plugins, reset_plugins
from testkit import BUNDLED_DIR, Cli, load_json

from .incentives_helpers import EXAMPLES


@pytest.fixture
def pcli(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """The CLI with the commission commands (crm_csv and incentives loaded), on ``db_url``."""
    monkeypatch.setenv("ATTAIN_LOAD_PLUGINS", "crm_csv,incentives")
    reset_plugins()
    if not any(g.name == "commission" for g in cli_module.app.registered_groups):
        get_plugins().register_commands(cli_module.app)
    try:
        yield cli
    finally:
        reset_plugins()


def stderr_lines(result: Any) -> list[str]:
    return [ln for ln in result.stderr.splitlines() if ln.strip()]


# -- commission run: failed statements ------------------------------------------------------------


def test_run_where_every_statement_fails_exits_1_with_one_line(pcli: Cli) -> None:
    # Before: exit 0, and the reason repeated in a wrapped table row for each of 35 reps.
    pcli("import", "crm-csv", str(BUNDLED_DIR), "--quiet")
    roster = (BUNDLED_DIR / "sales_teams.csv").read_text().splitlines()[1:]
    reps = sorted(line.split(",")[0] for line in roster)
    assert len(reps) == 35
    res = pcli("commission", "run", "--plan", str(EXAMPLES / "tiered.yaml"), "--period",
               "2017-07", ok=False)
    assert res.exit_code == 1, res.output
    assert stderr_lines(res) == [
        "error: 35 statements failed: plan 'tiered-2017' v1 pays by quarter; 2017-07 is a month "
        f"({reps[0]}, {reps[1]}, {reps[2]} and 32 more)"]
    assert res.stdout.strip() == ""  # no table of 35 failures
    js = pcli("commission", "run", "--plan", str(EXAMPLES / "tiered.yaml"), "--period",
              "2017-07", "--format", "json", ok=False)
    assert js.exit_code == 1
    body = load_json(js.stdout)
    assert [s["rep"] for s in body["statements"]] == reps
    assert {(s["status"], s["message"]) for s in body["statements"]} == {
        ("error", "plan 'tiered-2017' v1 pays by quarter; 2017-07 is a month")}


SMALL_EXPORT = {
    "sales_teams.csv": "sales_agent,manager,regional_office\nAnn,Meg,East\nBob,Meg,East\n"
                       "Cy,Meg,West\nDee,Meg,West\n",
    "products.csv": "product,series,sales_price\nP1,S,100\n",
    "accounts.csv": "account,sector,subsidiary_of\nA1,retail,\n",
    "sales_pipeline.csv": (
        "opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,"
        "close_value\n"
        "D1,Ann,P1,A1,Won,2017-01-02,2017-02-01,1000\n"
        "D2,Bob,P1,A1,Won,2017-01-03,2017-02-02,2000\n"
        "D3,Cy,P1,A1,Won,2017-01-04,2017-02-03,3000\n"
        "D4,Dee,P1,A1,Won,2017-01-05,2017-02-04,4000\n"),
}

# Ann has a quota; the others have none, which the tiered rule needs.
QUOTA_PLAN = """plan: q
period: quarter
payees: all
assignments: [{rep: Ann, quota: 10000}]
rules:
  - id: tiers
    type: tiered
    tiers: [{to_pct: 100, rate: 4%}, {from_pct: 100, rate: 6%}]
"""


def test_run_with_some_failures_prints_the_rest_and_each_reason_once(pcli: Cli,
                                                                       tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    for name, text in SMALL_EXPORT.items():
        (export / name).write_text(text)
    pcli("import", "crm-csv", str(export), "--quiet")
    plan = tmp_path / "q.yaml"
    plan.write_text(QUOTA_PLAN)
    res = pcli("commission", "run", "--plan", str(plan), "--period", "2017-Q1", ok=False)
    assert res.exit_code == 1, res.output
    # The reason names its payee; the payees sharing it are counted together.
    assert stderr_lines(res) == [
        "error: 3 statements failed: rule 'tiers' needs a quota but the payee has none for "
        "2017-Q1 (set plan 'quota:' or an assignment quota) (Bob, Cy, Dee)"]
    table = res.stdout
    assert "Ann" in table and "40.00" in table  # 4 % of 1000, 10 % of her quota
    assert "Bob" not in table and "error" not in table
    js = pcli("commission", "run", "--plan", str(plan), "--period", "2017-Q1", "--format",
              "json", ok=False)
    assert js.exit_code == 1
    statements = {s["rep"]: s for s in load_json(js.stdout)["statements"]}
    assert statements["Ann"]["status"] in ("created", "unchanged")
    assert {r: s["status"] for r, s in statements.items() if r != "Ann"} == {
        "Bob": "error", "Cy": "error", "Dee": "error"}
    assert statements["Cy"]["message"].startswith("rule 'tiers' needs a quota but Cy has none")


# -- plan validation: NaN, infinity, rates above 100 % --------------------------------------------


def validate(pcli: Cli, tmp_path: Path, text: str) -> Any:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return pcli("commission", "plan", "validate", str(path), ok=False), path


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", ".NaN", "+.inf", "'NaN'", "'-Infinity'"])
def test_non_finite_numbers_are_validation_errors(pcli: Cli, tmp_path: Path, value: str) -> None:
    # Before: ValueError '.nan' is not a decimal number (a traceback) from the YAML loader.
    text = ("plan: x\nperiod: quarter\nrules:\n"
            f"  - type: flat_rate\n    rate: {value}\n"
            f"  - type: tiered\n    tiers: [{{to_pct: {value}, rate: 1%}}, {{from_pct: 100, rate: 2%}}]\n"
            f"  - {{type: cap, per_deal: {value}}}\n")
    res, path = validate(pcli, tmp_path, text)
    assert res.exit_code == 2
    assert stderr_lines(res) == [
        "error: invalid plan",
        f"{path}:5: rules[0].rate: Input should be a finite number",
        f"{path}:7: rules[1].tiers[0].to_pct: Input should be a finite number",
        f"{path}:8: rules[2].per_deal: Input should be a finite number",
    ]


def test_non_finite_plan_quota_is_a_validation_error(pcli: Cli, tmp_path: Path) -> None:
    res, path = validate(pcli, tmp_path, "plan: x\nperiod: quarter\nquota: .inf\n"
                         "assignments: [{rep: Ann, quota: .nan}]\n"
                         "rules: [{type: flat_rate, rate: 1%}]\n")
    assert res.exit_code == 2
    assert stderr_lines(res) == ["error: invalid plan",
                                 f"{path}:3: quota: Input should be a finite number",
                                 f"{path}:4: assignments[0].quota: Input should be a finite number"]


def test_yaml_floats_that_are_no_decimals_do_not_crash(pcli: Cli, tmp_path: Path) -> None:
    # YAML 1.1 reads 1.2.3 and 1:30.5 (base 60) as floats; before: a traceback.
    res, path = validate(pcli, tmp_path, "plan: x\nperiod: quarter\ndescription: 1.2.3\n"
                         "rules: [{type: flat_rate, rate: 1:30.5}]\n")
    assert res.exit_code == 2
    assert stderr_lines(res) == [
        "error: invalid plan",
        f"{path}:4: rules[0].rate: Value error, '1:30.5' is not a decimal number"]


@pytest.mark.parametrize("rate, shown", [("500%", "500"), ("1000000", "100000000"),
                                         ("1.0001", "100.01")])
def test_rate_above_100_pct_is_refused(pcli: Cli, tmp_path: Path, rate: str, shown: str) -> None:
    # Before: "plan 'x' is valid".
    res, path = validate(pcli, tmp_path, f"plan: x\nperiod: quarter\nquota: 1000\nrules:\n"
                         f"  - type: flat_rate\n    rate: {rate}\n")
    assert res.exit_code == 2
    assert stderr_lines(res) == [
        "error: invalid plan",
        f"{path}:6: rules[0].rate: Value error, a rate of {shown}% is above 100%; if that is "
        "meant, set allow_rate_above_100: true on this rule"]


def test_every_rate_field_is_checked(pcli: Cli, tmp_path: Path) -> None:
    text = """plan: x
period: quarter
quota: 1000
rules:
  - {id: t, type: tiered, tiers: [{to_pct: 100, rate: 4%}, {from_pct: 100, rate: 101%}]}
  - {id: a, type: accelerator, rate: 2}
  - {id: s, type: stretch_bonus, at_pct: 150, rate: 300%}
  - {id: p, type: spif, start: 2017-01-01, end: 2017-03-31, rate: 1.5}
  - {id: o, type: manager_override, rate: 200%}
  - {id: m, type: manager_override, tiers: [{rate: 120%}]}
  - {id: d, type: decelerator, below_pct: 50, factor: 0.5}
"""
    res, path = validate(pcli, tmp_path, text)
    assert res.exit_code == 2
    hint = "; if that is meant, set allow_rate_above_100: true on this rule"
    assert stderr_lines(res) == [
        "error: invalid plan",
        f"{path}:5: rules[0].tiers[1].rate: Value error, a rate of 101% is above 100%{hint}",
        f"{path}:6: rules[1].rate: Value error, a rate of 200% is above 100%{hint}",
        f"{path}:7: rules[2].rate: Value error, a rate of 300% is above 100%{hint}",
        f"{path}:8: rules[3].rate: Value error, a rate of 150% is above 100%{hint}",
        f"{path}:9: rules[4].rate: Value error, a rate of 200% is above 100%{hint}",
        f"{path}:10: rules[5].tiers[0].rate: Value error, a rate of 120% is above 100%{hint}",
    ]


def test_allow_rate_above_100_on_the_rule(pcli: Cli, tmp_path: Path) -> None:
    text = ("plan: x\nperiod: quarter\nquota: 1000\nrules:\n"
            "  - {id: big, type: flat_rate, rate: 150%, allow_rate_above_100: true}\n"
            "  - {id: top, type: flat_rate, rate: 100%}\n")
    res, path = validate(pcli, tmp_path, text)
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == (f"{path}: plan 'x' is valid: 2 rules (flat_rate, flat_rate), "
                                  "paid by quarter")
    res, path = validate(pcli, tmp_path, text.replace("true", "yes"))
    assert res.exit_code == 2
    assert stderr_lines(res) == ["error: invalid plan",
                                 f"{path}:5: rules[0].allow_rate_above_100: must be true or false"]


def test_the_sample_plans_still_validate(pcli: Cli) -> None:
    for plan in sorted(EXAMPLES.iterdir()):
        res = pcli("commission", "plan", "validate", str(plan))
        assert " is valid: " in res.stdout, plan
