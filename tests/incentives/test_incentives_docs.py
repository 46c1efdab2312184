"""docs/incentives.md: its plan example is a valid plan and its partner rule type works."""

from __future__ import annotations

import datetime as dt
import re
import sys
import types
from decimal import Decimal
from pathlib import Path

import pytest
from attain.core.plugins import Plugins
from attain.plugins.incentives.calc import Calculator
from attain.plugins.incentives.model import Assignment, DealFact
from attain.plugins.incentives.periods import Period
from attain.plugins.incentives.plans import load_plan_text
from attain.plugins.incentives.registry import rule_registry

DOC = Path(__file__).resolve().parents[2] / "docs" / "incentives.md"


def blocks(lang: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def test_the_plan_example_is_valid(plugins: Plugins) -> None:
    plans = [b for b in blocks("yaml") if b.startswith("plan:")]
    assert plans
    types_, owners = rule_registry(plugins)
    for text in plans:
        plan = load_plan_text(text, "docs/incentives.md", types_, owners)
        assert plan.rules


def test_the_partner_example_registers_and_pays(plugins: Plugins,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    (code,) = blocks("python")
    module = types.ModuleType("partner_example")
    monkeypatch.setitem(sys.modules, "partner_example", module)
    exec(compile(code, "docs/incentives.md", "exec"), module.__dict__)
    plugins.register(module, name="partner-example")
    types_, owners = rule_registry(plugins)
    assert owners["per_deal_fee"][0] == "partner-example"
    plan = load_plan_text("plan: p\nperiod: quarter\nrules: [{type: per_deal_fee, amount: 10}]\n",
                          "p", types_, owners)
    calc = Calculator(lambda _p, _q: Assignment(plan))
    calc.load([DealFact("d", "ann", Decimal(5), dt.date(2017, 1, 2))],
              {"d": (("ann", Decimal(30)), ("bob", Decimal(70)))})
    st = calc.statement("ann", Period.parse("2017-Q1"))
    assert [(ln.amount, ln.plugin, ln.kind) for ln in st.lines] == [
        (Decimal("3.00"), "partner-example", "bonus")]
