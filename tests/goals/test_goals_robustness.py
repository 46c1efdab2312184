"""Non-finite numbers in a goals file (YAML's ``.nan``, ``.inf``, ``-.inf``) are validation
errors naming the goal and the field, through ``attain goals apply`` on SQLite and PostgreSQL:
exit 2, nothing saved, no traceback (before: ``decimal.InvalidOperation``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .goals_helpers import GoalsCli

GOAL = "  - id: {id}\n    metric: won_revenue\n    owner: company\n    period: '2017'\n"


@pytest.fixture
def gcli(db_url: str) -> GoalsCli:
    return GoalsCli(db_url)


def apply(gcli: GoalsCli, tmp_path: Path, body: str) -> list[str]:
    plan = tmp_path / "goals.yaml"
    plan.write_text("goals:\n" + body, encoding="utf-8")
    res = gcli("goals", "apply", str(plan), ok=False)
    assert res.exit_code == 2, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert gcli.json("goals", "list", "--format", "json") == []  # nothing was saved
    return [ln for ln in res.stderr.splitlines() if ln.strip()]


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", ".NaN", "+.Inf"])
def test_non_finite_target_is_a_validation_error(gcli: GoalsCli, tmp_path: Path,
                                                 value: str) -> None:
    shown = {".NaN": ".nan", "+.Inf": ".inf"}.get(value, value)
    assert apply(gcli, tmp_path, GOAL.format(id="g1") + f"    target: {value}\n") == [
        "error: 1 goal(s) rejected, nothing was saved:",
        "error: goal 'g1' rejected:",
        f"  - not measurable: target {shown} is not a number",
    ]


def test_non_finite_stretch_and_growth_are_validation_errors(gcli: GoalsCli,
                                                             tmp_path: Path) -> None:
    body = (GOAL.format(id="g1") + "    target: 1000\n    stretch: .inf\n"
            + GOAL.format(id="g2") + "    target: {growth: .nan, baseline: '2016'}\n"
            + GOAL.format(id="g3") + "    target: 'NaN'\n")
    assert apply(gcli, tmp_path, body) == [
        "error: 3 goal(s) rejected, nothing was saved:",
        "error: goal 'g1' rejected:",
        "  - stretch .inf is not a number",
        "error: goal 'g2' rejected:",
        "  - not measurable: target growth .nan is not a number",
        "error: goal 'g3' rejected:",
        "  - not measurable: target 'NaN' is not a number",
    ]
