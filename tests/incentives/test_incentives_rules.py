"""Every rule type against payouts computed independently, in plain arithmetic."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

import pytest
from attain.core import hookimpl
from attain.core.plugins import Plugins, RegistrationError
from attain.plugins.incentives.calc import Calculator
from attain.plugins.incentives.model import Assignment, DealFact, Line, RuleType
from attain.plugins.incentives.periods import Period
from attain.plugins.incentives.plans import PlanError, load_plan_text
from attain.plugins.incentives.registry import rule_registry
from pydantic import BaseModel

from .incentives_helpers import round_half_even_cents as r2

D = Decimal
Q1 = Period.parse("2017-Q1")
Q2 = Period.parse("2017-Q2")


def day(s: str) -> dt.date:
    return dt.date.fromisoformat(s)


def fact(deal_id: str, owner: str, amount: str, closed: str, product: str | None = None,
         account: str | None = None, series: str | None = None, engaged: str | None = None,
         reversed_on: str | None = None, reversal: str | None = None) -> DealFact:
    return DealFact(deal_id, owner, D(amount), day(closed), product, series, account,
                    day(engaged) if engaged else None, None,
                    day(reversed_on) if reversed_on else None, reversal)


def make_calc(plugins: Plugins, plan_text: str, facts: Iterable[DealFact],
              splits: dict[str, tuple[tuple[str, Decimal], ...]] | None = None,
              roster: dict[str, str | None] | None = None,
              churns: Sequence[tuple[str, dt.date]] = (),
              quotas: dict[str, Decimal] | None = None) -> Calculator:
    types, owners = rule_registry(plugins)
    plan = load_plan_text(plan_text, "test-plan", types, owners)

    def resolve(payee: str, period: Period) -> Assignment:
        return Assignment(plan, (quotas or {}).get(payee))

    calc = Calculator(resolve, roster or {}, churns)
    calc.load(facts, splits or {})
    return calc


def amounts(lines: Sequence[Line], rule: str | None = None) -> list[Decimal]:
    return [ln.amount for ln in lines if rule is None or ln.rule == rule]


def overlap_oracle(credits: Sequence[Decimal], quota: Decimal,
                   tiers: Sequence[tuple[Decimal, Decimal | None, Decimal]]
                   ) -> list[list[tuple[Decimal, Decimal]]]:
    """Per credit (in order), the (portion, rate) of every tier its interval overlaps."""
    out = []
    before = D(0)
    for amount in credits:
        a, b = before, before + amount
        parts = []
        for lo_pct, hi_pct, rate in tiers:
            lo = quota * lo_pct / 100
            hi = b if hi_pct is None else quota * hi_pct / 100
            portion = min(hi, b) - max(lo, a)
            if portion > 0:
                parts.append((portion, rate))
        out.append(parts)
        before = b
    return out


# -- flat rate ------------------------------------------------------------------------------------


def test_flat_rate_with_product_series_and_deal_type_filters(plugins: Plugins) -> None:
    calc = make_calc(plugins, """
plan: flat
period: quarter
rules:
  - {id: base, type: flat_rate, rate: 3%}
  - {id: gtx, type: flat_rate, rate: 0.01, series: [GTX]}
  - {id: new, type: flat_rate, rate: 2%, deal_types: [new]}
  - {id: mg, type: flat_rate, rate: 10%, products: [MG Special]}
""", [fact("d1", "ann", "1000.00", "2017-01-10", "GTX Pro", "X", "GTX"),
      fact("d2", "ann", "333.33", "2017-02-01", "MG Special", "X", "MG"),
      fact("d3", "ann", "10.05", "2017-03-01", "GTX Basic", "Y", "GTX"),
      fact("d4", "ann", "99.00", "2017-04-01", "GTX Basic", "Y", "GTX")])
    st = calc.statement("ann", Q1)
    # plain arithmetic, every line rounded half-even to cents
    base = [r2(D("1000.00") * D("0.03")), r2(D("333.33") * D("0.03")), r2(D("10.05") * D("0.03"))]
    assert base == [D("30.00"), D("10.00"), D("0.30")]
    gtx = [r2(D("1000.00") * D("0.01")), r2(D("10.05") * D("0.01"))]
    new = [r2(D("1000.00") * D("0.02")), r2(D("10.05") * D("0.02"))]  # first won deal of X, Y
    mg = [r2(D("333.33") * D("0.10"))]
    assert amounts(st.lines, "base") == base
    assert amounts(st.lines, "gtx") == gtx
    assert amounts(st.lines, "new") == new
    assert amounts(st.lines, "mg") == mg
    assert st.total == sum(base + gtx + new + mg) == D("103.93")
    assert [ln.deal for ln in st.lines if ln.rule == "gtx"] == ["d1", "d3"]
    assert st.credited == D("1343.38")  # d4 closes in Q2
    for ln in st.lines:
        assert ln.plugin == "incentives" and ln.version == "0.1.0"
        assert ln.type == "flat_rate"


def test_half_even_rounding_per_line_and_total_is_sum_of_lines(plugins: Plugins) -> None:
    calc = make_calc(plugins, "plan: r\nperiod: quarter\nrules: [{type: flat_rate, rate: 5%}]\n",
                     [fact("a", "ann", "2.50", "2017-01-01"),   # 0.125 → 0.12
                      fact("b", "ann", "2.70", "2017-01-02"),   # 0.135 → 0.14
                      fact("c", "ann", "2.90", "2017-01-03"),   # 0.145 → 0.14
                      fact("d", "ann", "2.50", "2017-01-04")])  # 0.125 → 0.12
    st = calc.statement("ann", Q1)
    assert [ln.exact for ln in st.lines] == [D("0.125"), D("0.135"), D("0.145"), D("0.125")]
    assert amounts(st.lines) == [D("0.12"), D("0.14"), D("0.14"), D("0.12")]
    assert [r2(x) for x in (D("0.125"), D("0.135"), D("0.145"))] == [D("0.12"), D("0.14"),
                                                                      D("0.14")]
    # the total is the sum of the rounded lines (0.52), not the rounded exact sum (0.53)
    assert st.total == D("0.52")
    assert r2(sum(ln.exact for ln in st.lines)) == D("0.53")


# -- tiers ------------------------------------------------------------------------------------------

TIERS = """
      - {to_pct: 50, rate: 1%}
      - {from_pct: 50, to_pct: 100, rate: 2%}
      - {from_pct: 100, rate: 5%}
"""
TIER_TABLE = [(D(0), D(50), D("0.01")), (D(50), D(100), D("0.02")), (D(100), None, D("0.05"))]


def test_tiered_marginal_slices_a_deal_across_tiers(plugins: Plugins) -> None:
    deals = [fact("d1", "ann", "400", "2017-01-05"), fact("d2", "ann", "700", "2017-02-05"),
             fact("d0", "ann", "123.45", "2017-03-31")]
    calc = make_calc(plugins, f"plan: t\nperiod: quarter\nquota: 1000\nrules:\n"
                     f"  - id: tiers\n    type: tiered\n    tiers:{TIERS}", deals)
    st = calc.statement("ann", Q1)
    oracle = overlap_oracle([D("400"), D("700"), D("123.45")], D(1000), TIER_TABLE)
    expected = [r2(p * rate) for parts in oracle for p, rate in parts]
    assert expected == [D("4.00"), D("1.00"), D("10.00"), D("5.00"), D("6.17")]
    assert amounts(st.lines) == expected
    assert [ln.tier for ln in st.lines] == ["0-50%", "0-50%", "50-100%", "100%+", "100%+"]
    assert [ln.basis for ln in st.lines] == [D(400), D(100), D(500), D(100), D("123.45")]
    assert st.total == sum(expected)


def test_tiered_same_day_deals_fill_tiers_by_deal_id(plugins: Plugins) -> None:
    deals = [fact("b", "ann", "600", "2017-01-05"), fact("a", "ann", "600", "2017-01-05")]
    calc = make_calc(plugins, f"plan: t\nperiod: quarter\nquota: 1000\nrules:\n"
                     f"  - id: tiers\n    type: tiered\n    tiers:{TIERS}", deals)
    st = calc.statement("ann", Q1)
    assert [ln.deal for ln in st.lines] == ["a", "a", "b", "b"]
    assert amounts(st.lines) == [D("5.00"), D("2.00"), D("8.00"), D("10.00")]


def test_tiered_retroactive_pays_everything_at_the_tier_reached(plugins: Plugins) -> None:
    deals = [fact("d1", "ann", "400", "2017-01-05"), fact("d2", "ann", "700", "2017-02-05")]
    calc = make_calc(plugins, f"plan: t\nperiod: quarter\nquota: 1000\nrules:\n"
                     f"  - id: tiers\n    type: tiered\n    mode: retroactive\n    tiers:{TIERS}",
                     deals)
    st = calc.statement("ann", Q1)
    assert amounts(st.lines) == [D("400") * D("0.05"), D("700") * D("0.05")]
    assert st.total == D("55.00")
    # below 50 %: everything at 1 %
    calc2 = make_calc(plugins, f"plan: t\nperiod: quarter\nquota: 1000\nrules:\n"
                      f"  - id: tiers\n    type: tiered\n    mode: retroactive\n    tiers:{TIERS}",
                      [fact("d1", "ann", "499.99", "2017-01-05")])
    assert calc2.statement("ann", Q1).total == r2(D("499.99") * D("0.01")) == D("5.00")


def test_accelerator_and_decelerator(plugins: Plugins) -> None:
    plan = f"""plan: t
period: quarter
quota: 1000
rules:
  - id: tiers
    type: tiered
    tiers:{TIERS}
  - {{id: acc, type: accelerator, above_pct: 100, rate: 2%}}
  - {{id: dec, type: decelerator, below_pct: 50, factor: 0.5, applies_to: [tiers]}}
"""
    high = make_calc(plugins, plan, [fact("d1", "ann", "400", "2017-01-05"),
                                     fact("d2", "ann", "700", "2017-02-05")])
    st = high.statement("ann", Q1)
    assert amounts(st.lines, "acc") == [r2(D(100) * D("0.02"))]  # only the 100 above quota
    assert amounts(st.lines, "dec") == []
    assert st.total == D("20.00") + D("2.00")
    low = make_calc(plugins, plan, [fact("d1", "ann", "150", "2017-01-05"),
                                    fact("d2", "ann", "150.10", "2017-02-05")])
    st = low.statement("ann", Q1)
    tiers = [r2(D(150) * D("0.01")), r2(D("150.10") * D("0.01"))]
    assert amounts(st.lines, "tiers") == tiers == [D("1.50"), D("1.50")]
    assert amounts(st.lines, "dec") == [r2(-t / 2) for t in tiers] == [D("-0.75"), D("-0.75")]
    assert st.total == D("1.50")


def test_gate_pays_nothing_below_the_threshold(plugins: Plugins) -> None:
    plan = f"""plan: t
period: quarter
quota: 1000
rules:
  - id: tiers
    type: tiered
    tiers:{TIERS}
  - {{id: bonus, type: milestone_bonus, milestones: [{{at_pct: 40, amount: 10}}]}}
  - {{id: gate, type: gate, min_pct: 50}}
"""
    below = make_calc(plugins, plan, [fact("d1", "ann", "499.99", "2017-01-05")])
    st = below.statement("ann", Q1)
    assert st.total == 0
    assert amounts(st.lines, "gate") == [D("-5.00"), D("-10")]
    at = make_calc(plugins, plan, [fact("d1", "ann", "500", "2017-01-05")])
    st = at.statement("ann", Q1)
    assert amounts(st.lines, "gate") == []
    assert st.total == D("5.00") + D("10")


def test_cap_per_deal_and_per_period(plugins: Plugins) -> None:
    deals = [fact("d1", "ann", "400", "2017-01-05"), fact("d2", "ann", "700", "2017-02-05"),
             fact("d3", "ann", "100", "2017-03-05")]
    base = f"plan: t\nperiod: quarter\nquota: 1000\nrules:\n  - id: tiers\n    type: tiered\n" \
           f"    tiers:{TIERS}"
    # uncapped: d1 4.00, d2 1+10+5 = 16.00, d3 5.00
    st = make_calc(plugins, base + "  - {id: cap, type: cap, per_deal: 8}\n", deals
                   ).statement("ann", Q1)
    assert amounts(st.lines, "cap") == [D("-8.00")]
    assert st.total == D(4) + D(8) + D(5)
    st = make_calc(plugins, base + "  - {id: cap, type: cap, per_deal: 8, per_period: 10}\n",
                   deals).statement("ann", Q1)
    # per deal: d2 16 → 8; per period (closing order): d1 4, d2 8 → 6 paid, d3 → 0 paid
    assert [(ln.deal, ln.amount) for ln in st.lines if ln.rule == "cap"] == [
        ("d2", D("-8.00")), ("d2", D("-2.00")), ("d3", D("-5.00"))]
    assert st.total == D(10)


def test_milestone_and_stretch_bonus(plugins: Plugins) -> None:
    plan = """plan: t
period: quarter
quota: 1000
rules:
  - {id: m, type: milestone_bonus, milestones: [{at_pct: 100, amount: 100}, {at_pct: 120, amount: 50}]}
  - {id: s, type: stretch_bonus, at_pct: 105, amount: 30, rate: 1%}
"""
    st = make_calc(plugins, plan, [fact("d1", "ann", "400", "2017-01-05"),
                                   fact("d2", "ann", "700", "2017-02-05")]).statement("ann", Q1)
    assert amounts(st.lines, "m") == [D(100)]          # 110 % ≥ 100, < 120
    assert amounts(st.lines, "s") == [D(30), r2((D(1100) - D(1050)) * D("0.01"))]
    assert st.total == D("130.50")
    st = make_calc(plugins, plan, [fact("d1", "ann", "999.99", "2017-01-05")]
                   ).statement("ann", Q1)
    assert st.total == 0


def test_spif_time_boxed_per_product_and_behaviour(plugins: Plugins) -> None:
    plan = """plan: t
period: quarter
rules:
  - id: spif
    type: spif
    name: GTX Pro February
    start: 2017-02-01
    end: 2017-02-28
    products: [GTX Pro]
    amount_per_deal: 25
  - id: fast
    type: spif
    start: 2017-01-01
    end: 2017-12-31
    max_cycle_days: 30
    rate: 1%
"""
    deals = [fact("in", "ann", "100", "2017-02-10", "GTX Pro", engaged="2016-12-01"),
             fact("early", "ann", "100", "2017-01-31", "GTX Pro", engaged="2017-01-20"),
             fact("other", "ann", "100", "2017-02-11", "MG Special", engaged="2017-02-01"),
             fact("split", "ann", "100", "2017-02-12", "GTX Pro")]
    st = make_calc(plugins, plan, deals, {"split": (("ann", D(50)), ("bob", D(50)))}
                   ).statement("ann", Q1)
    assert [(ln.deal, ln.amount) for ln in st.lines if ln.rule == "spif"] == [
        ("in", D(25)), ("split", D("12.50"))]
    # 11 and 10 days from engaging; "in" took 71 days, "split" has no engage date
    assert [(ln.deal, ln.amount) for ln in st.lines if ln.rule == "fast"] == [
        ("early", D("1.00")), ("other", D("1.00"))]


# -- splits and overrides ----------------------------------------------------------------------------


def test_splits_credit_each_rep_their_percentage(plugins: Plugins) -> None:
    plan = "plan: t\nperiod: quarter\nquota: 1000\nrules: [{id: base, type: flat_rate, rate: 5%}]\n"
    calc = make_calc(plugins, plan, [fact("d1", "ann", "1000.01", "2017-01-05")],
                     {"d1": (("ann", D(60)), ("bob", D(40)))})
    a, b = calc.statement("ann", Q1), calc.statement("bob", Q1)
    assert a.credited == D("1000.01") * 60 / 100 == D("600.006")
    assert b.credited == D("400.004")
    assert a.total == r2(D("600.006") * D("0.05")) == D("30.00")
    assert b.total == r2(D("400.004") * D("0.05")) == D("20.00")
    assert a.lines[0].share == D(60) and b.lines[0].share == D(40)
    # changing the split re-credits both reps
    dirty = calc.set_split("d1", (("ann", D(50)), ("bob", D(25)), ("cy", D(25))))
    assert {"ann", "bob", "cy"} <= dirty
    assert calc.statement("cy", Q1).total == r2(D("250.0025") * D("0.05"))


def test_split_percentages_must_sum_to_100(plugins: Plugins) -> None:
    types, owners = rule_registry(plugins)
    with pytest.raises(PlanError) as exc:
        load_plan_text("""plan: t
period: quarter
splits:
  - deal: d1
    shares: {ann: 60, bob: 30}
rules: [{type: flat_rate, rate: 1%}]
""", "p.yaml", types, owners)
    assert "p.yaml:5: splits[0].shares: Value error, shares sum to 90%, not 100%" in str(exc.value)


def test_manager_override_rolls_team_credit_up(plugins: Plugins) -> None:
    roster: dict[str, str | None] = {"ann": "meg", "bob": "meg", "cy": "tom"}
    deals = [fact("a1", "ann", "800", "2017-01-05"), fact("b1", "bob", "700", "2017-02-05"),
             fact("c1", "cy", "5000", "2017-02-06"), fact("a2", "ann", "1000", "2017-03-01")]
    plan = """plan: t
period: quarter
quota: 1000
rules:
  - {id: base, type: flat_rate, rate: 5%}
  - id: override
    type: manager_override
    tiers: [{to_pct: 100, rate: 1%}, {from_pct: 100, rate: 2%}]
"""
    calc = make_calc(plugins, plan, deals, {"a2": (("ann", D(50)), ("cy", D(50)))}, roster)
    meg = calc.statement("meg", Q1)
    # team credits in closing order: ann 800, bob 700, ann 500 (half of a2) = 2000 = team quota
    # (sum of ann's and bob's quotas); marginal 1 % below, 2 % above: nothing above 2000
    assert meg.team_credited == D(2000) and meg.team_quota == D(2000)
    assert [(ln.deal, ln.rep, ln.amount) for ln in meg.lines] == [
        ("a1", "ann", D("8.00")), ("b1", "bob", D("7.00")), ("a2", "ann", D("5.00"))]
    assert all(ln.kind == "override" for ln in meg.lines)
    tom = calc.statement("tom", Q1)
    assert tom.team_credited == D(5500)
    # 1000 at 1 %, then 4000 + 500 at 2 %
    assert amounts(tom.lines) == [D("10.00"), D("80.00"), D("10.00")]
    # a team member's deal change recomputes the manager
    assert "meg" in calc.upsert_deal(fact("b1", "bob", "1700", "2017-02-05"))
    # 800 + 1200 of b1 at 1 % reach the 2000 team quota; b1's other 500 and a2's 500 at 2 %
    assert calc.statement("meg", Q1).total == D("8.00") + D("12.00") + D("10.00") + D("10.00")


# -- clawbacks ------------------------------------------------------------------------------------------

CLAW = """plan: t
period: quarter
quota: 1000
rules:
  - id: tiers
    type: tiered
    tiers: [{to_pct: 100, rate: 4%}, {from_pct: 100, rate: 6%}]
  - {id: claw, type: clawback, within_days: 90}
"""


def test_clawback_in_the_period_of_the_loss_never_retroactively(plugins: Plugins) -> None:
    deals = [fact("keep", "ann", "900", "2017-01-05"),
             fact("lost", "ann", "300", "2017-02-01", reversed_on="2017-04-15", reversal="lost")]
    calc = make_calc(plugins, CLAW, deals)
    q1, q2 = calc.statement("ann", Q1), calc.statement("ann", Q2)
    # Q1 still pays the deal (it was won then): 900 at 4 %, then 100 at 4 % and 200 at 6 %
    assert amounts(q1.lines) == [D("36.00"), D("4.00"), D("12.00")]
    # Q2 reverses exactly what the deal earned in Q1 (73 days after closing ≤ 90)
    claw = [ln for ln in q2.lines if ln.rule == "claw"]
    assert [(ln.deal, ln.amount, ln.source_period) for ln in claw] == [
        ("lost", D("-16.00"), "2017-Q1")]
    assert q2.total == D("-16.00")
    assert "lost on 2017-04-15, 73 days" in (claw[0].note or "")


def test_clawback_outside_the_window_and_same_period_and_churn(plugins: Plugins) -> None:
    late = make_calc(plugins, CLAW, [fact("x", "ann", "300", "2017-01-02",
                                          reversed_on="2017-04-03", reversal="lost")])
    assert late.statement("ann", Q2).total == 0  # 91 days > 90: the commission stands
    same = make_calc(plugins, CLAW, [fact("x", "ann", "300", "2017-01-02",
                                          reversed_on="2017-02-01", reversal="reopened")])
    st = same.statement("ann", Q1)
    assert amounts(st.lines) == [D("12.00"), D("-12.00")] and st.total == 0
    churn = make_calc(plugins, CLAW, [fact("x", "ann", "300", "2017-01-02", account="acme"),
                                      fact("y", "ann", "100", "2017-03-30", account="acme")],
                      churns=[("acme", day("2017-03-15"))])
    st = churn.statement("ann", Q1)
    # x churned 72 days after closing; y closed after the churn and is kept
    assert [(ln.deal, ln.amount) for ln in st.lines if ln.rule == "claw"] == [("x", D("-12.00"))]


# -- draws ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("recoverable", [True, False])
def test_draws_recoverable_and_not(plugins: Plugins, recoverable: bool) -> None:
    plan = f"""plan: t
period: month
rules:
  - {{id: base, type: flat_rate, rate: 10%}}
  - {{id: draw, type: draw, amount: 1000, recoverable: {str(recoverable).lower()}}}
"""
    deals = [fact("jan", "ann", "2000", "2017-01-10"), fact("feb", "ann", "30000", "2017-02-10"),
             fact("mar", "ann", "5000", "2017-03-10"), fact("apr", "ann", "15000", "2017-04-10")]
    calc = make_calc(plugins, plan, deals)
    totals = [calc.statement("ann", Period.parse(f"2017-{m:02d}")).total for m in (1, 2, 3, 4)]
    earned = [D(200), D(3000), D(500), D(1500)]
    # plain arithmetic of a draw of 1000 a month
    expected = []
    balance = D(0)
    for e in earned:
        if e < 1000:
            expected.append(D(1000))
            balance += (1000 - e) if recoverable else 0
        else:
            recover = min(balance, e - 1000)
            balance -= recover
            expected.append(e - recover)
    assert totals == expected
    assert totals == ([D(1000), D(2200), D(1000), D(1000)] if recoverable
                      else [D(1000), D(3000), D(1000), D(1500)])


# -- partner rule types ----------------------------------------------------------------------------------


class FeeParams(BaseModel):
    model_config = {"extra": "forbid"}
    amount: Decimal


def fee(ctx: Any, p: FeeParams) -> Iterable[Line]:
    for c in ctx.credits:
        yield ctx.line(p.amount * c.share / 100, c, kind="bonus")


class Partner:
    @hookimpl
    def attain_register_commission_rules(self, register: Callable[..., None]) -> None:
        register(RuleType("per_deal_fee", "fixed fee per won deal", FeeParams, fee))


def test_a_partner_adds_a_rule_type_through_the_hook(plugins: Plugins) -> None:
    plugins.register(Partner(), name="partner")
    calc = make_calc(plugins, "plan: p\nperiod: quarter\nrules:\n"
                     "  - {id: fee, type: per_deal_fee, amount: 7.5}\n"
                     "  - {id: cap, type: cap, per_period: 10}\n",
                     [fact("a", "ann", "1", "2017-01-01"), fact("b", "ann", "1", "2017-01-02")])
    st = calc.statement("ann", Q1)
    assert [(ln.rule, ln.plugin, ln.amount) for ln in st.lines] == [
        ("fee", "partner", D("7.50")), ("fee", "partner", D("7.50")),
        ("cap", "incentives", D("-5.00"))]
    with pytest.raises(RegistrationError, match="per_deal_fee"):
        plugins.register(type("Again", (Partner,), {})(), name="partner2")


def test_unknown_rule_type_names_the_installed_ones(plugins: Plugins) -> None:
    types, owners = rule_registry(plugins)
    with pytest.raises(PlanError) as exc:
        load_plan_text("plan: p\nperiod: quarter\nrules:\n  - type: nope\n", "x.yaml", types,
                       owners)
    assert "x.yaml:4: rules[0].type: unknown rule type 'nope' (installed: accelerator, cap" \
        in str(exc.value)
