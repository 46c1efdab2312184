"""Plan files: validation with line and field, exact decimals, examples, periods."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from attain.core.plugins import Plugins
from attain.plugins.incentives.periods import Period, PeriodError
from attain.plugins.incentives.plans import PlanError, load_plan_file, load_plan_text
from attain.plugins.incentives.registry import rule_registry

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plans"


def load(plugins: Plugins, text: str, source: str = "plan.yaml"):  # type: ignore[no-untyped-def]
    types, owners = rule_registry(plugins)
    return load_plan_text(text, source, types, owners)


def problems(plugins: Plugins, text: str) -> list[str]:
    with pytest.raises(PlanError) as exc:
        load(plugins, text)
    return str(exc.value).splitlines()[1:]


def test_errors_name_line_and_field(plugins: Plugins) -> None:
    text = """plan: bad
period: fortnight
quota: -5
rules:
  - id: base
    type: flat_rate
    rate: 5%
    prodcts: [GTX Pro]
  - id: tiers
    type: tiered
    tiers:
      - {to_pct: 50, rate: 1%}
      - {from_pct: 60, rate: 2%}
  - id: gate
    type: gate
    min_pct: lots
"""
    out = problems(plugins, text)
    assert "plan.yaml:2: period: Input should be 'month' or 'quarter'" in out
    assert "plan.yaml:3: quota: Input should be greater than or equal to 0" in out
    out2 = problems(plugins, text.replace("fortnight", "month").replace("-5", "5"))
    assert "plan.yaml:8: rules[0].prodcts: unknown field" in out2
    assert any(p.startswith("plan.yaml:12: rules[1].tiers: Value error, tier 2 starts at 60% "
                            "but tier 1 ends at 50%") for p in out2), out2
    assert any(p.startswith("plan.yaml:16: rules[2].min_pct:") for p in out2), out2


def test_json_plans_and_yaml_syntax_errors(plugins: Plugins) -> None:
    out = problems(plugins, '{\n  "plan": "j",\n  "period": "quarter",\n  "rules": [\n'
                   '    {"type": "flat_rate", "rate": "x"}\n  ]\n}\n')
    assert out and out[0].startswith("plan.yaml:5: rules[0].rate:"), out
    out = problems(plugins, "plan: x\nrules: [\n")
    assert out[0].startswith("plan.yaml:") and "not valid YAML/JSON" in out[0]
    out = problems(plugins, "- just a list\n")
    assert "a plan must be a mapping" in out[0]


def test_numbers_are_exact_decimals_and_on_is_not_a_boolean(plugins: Plugins) -> None:
    plan = load(plugins, """plan: exact
period: quarter
quota: 0.1
rules:
  - {id: a, type: flat_rate, rate: 0.07}
  - {id: c, type: clawback, within_days: 30, on: [lost]}
""")
    assert plan.quota == Decimal("0.1")  # not 0.1000000000000000055511151231257827
    assert plan.rules[0].params.rate == Decimal("0.07")
    assert plan.rules[1].params.on == ["lost"]


def test_rule_ids_applies_to_and_draw_position(plugins: Plugins) -> None:
    out = problems(plugins, """plan: x
period: month
rules:
  - {id: a, type: flat_rate, rate: 1%}
  - {id: a, type: flat_rate, rate: 1%}
  - {id: g, type: gate, min_pct: 10, applies_to: [later]}
  - {id: d, type: draw, amount: 10}
  - {id: later, type: flat_rate, rate: 1%}
""")
    assert "plan.yaml:5: rules[1].id: rule id 'a' is used twice" in out
    assert "plan.yaml:6: rules[2].applies_to: 'later' is not the id of an earlier rule" in out
    assert "plan.yaml:4: rules: a plan has at most one draw rule and it must be the last rule" \
        in out


def test_percent_strings_and_default_ids(plugins: Plugins) -> None:
    plan = load(plugins, "plan: p\nperiod: quarter\nrules:\n  - {type: flat_rate, rate: '2.5%'}\n")
    assert plan.rules[0].id == "flat_rate-1"
    assert plan.rules[0].params.rate == Decimal("0.025")
    assert plan.rules[0].plugin == "incentives"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.*")), ids=lambda p: p.name)
def test_every_example_plan_is_valid(plugins: Plugins, path: Path) -> None:
    types, owners = rule_registry(plugins)
    plan = load_plan_file(path, types, owners)
    assert plan.rules and plan.period in ("month", "quarter")


def test_periods() -> None:
    q = Period.parse("2017-Q4")
    assert (q.start, q.end) == (dt.date(2017, 10, 1), dt.date(2017, 12, 31))
    assert q.next().key == "2018-Q1" and q.prev().key == "2017-Q3"
    assert [m.key for m in q.months()] == ["2017-10", "2017-11", "2017-12"]
    m = Period.parse("2016-12")
    assert m.next().key == "2017-01" and m.end == dt.date(2016, 12, 31)
    assert [p.key for p in Period.parse("2017-02").parents()] == ["2017-Q1", "2017"]
    assert Period.of(dt.date(2017, 5, 31), "quarter").key == "2017-Q2"
    assert Period.parse("2017q3").key == "2017-Q3"
    with pytest.raises(PeriodError):
        Period.parse("2017-13")
    with pytest.raises(PeriodError):
        Period.parse("last quarter")
