"""Running a sample plan through Attain and comparing every statement with the reference."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from attain.plugins.incentives.periods import Period as AttainPeriod
from attain.plugins.incentives.service import Incentives

from . import reference as ref
from .incentives_helpers import EXAMPLES

Statements = dict[tuple[str, str], dict[str, Any]]


def run_plan(svc: Incentives, plan_file: str, periods: Iterable[ref.Period]) -> Statements:
    """Load ``examples/plans/<plan_file>``, run every period and read every stored statement."""
    svc.load_plan(EXAMPLES / plan_file)
    out: Statements = {}
    for p in periods:
        period = AttainPeriod.parse(p.key)
        for o in svc.run(period):
            assert o.status == "created", o
            st = svc.statement(o.payee, period)
            assert (st["status"], st["total"]) == ("draft", o.total), o
            out[(o.payee, p.key)] = st
    return out


def as_ln(d: Mapping[str, Any], tier_rules: set[str]) -> ref.Ln:
    """A statement line (JSON view) in the reference's terms; the tier is compared only for the
    rules whose tier labels the plan file names."""
    return ref.Ln(d["rule"], d["kind"], d["deal"], d["rep"], d["amount"], d["share_pct"],
                  d["tier"] if d["rule"] in tier_rules else None, d["source_period"])


def compare(got: Statements, expected: Mapping[tuple[str, str], Sequence[ref.Ln]],
            tier_rules: set[str]) -> None:
    """Same statements (payee, period), each with the same lines in the same order and the
    same total (the sum of the expected lines)."""
    assert sorted(got) == sorted(expected)
    for key, st in got.items():
        lines = [as_ln(d, tier_rules) for d in st["lines"]]
        want = list(expected[key])
        if lines != want:
            i = next((i for i, (x, y) in enumerate(zip(lines, want, strict=False)) if x != y),
                     min(len(lines), len(want)))
            raise AssertionError(f"{key}: {len(lines)} lines, expected {len(want)}; first "
                                 f"difference at line {i + 1}:\n  got      "
                                 f"{lines[i] if i < len(lines) else None}\n  expected "
                                 f"{want[i] if i < len(want) else None}")
        assert [d["line"] for d in st["lines"]] == list(range(1, len(lines) + 1)), key
        assert st["total"] == sum((ln.amount for ln in expected[key]), Decimal(0)), key


def expected_quarterly(book: ref.Book, plan: ref.PlanFn, payees: Iterable[str],
                       periods: Sequence[ref.Period]) -> dict[tuple[str, str], list[ref.Ln]]:
    return {(payee, p.key): plan(book, payee, p) for payee in payees for p in periods}


def rules_fired(expected: Mapping[tuple[str, str], Sequence[ref.Ln]]) -> dict[str, int]:
    """How many statements have at least one line of each rule (to show the data exercises
    every rule of the plan)."""
    out: dict[str, int] = {}
    for lines in expected.values():
        for rule in {ln.rule for ln in lines}:
            out[rule] = out.get(rule, 0) + 1
    return out
