"""``attain whatif --year 2018 …``: next year's plan recomputed under changed assumptions.

From the base year (the year before), read once (:class:`Basis`), per rep: won revenue, won
and lost deals, with the goals plugin's quota-planning rules (``plan quotas``: productivity,
new reps at their team's median, the ramp ``rep_capacity``). The levers change each rep's
expected revenue multiplicatively:

* ``win_rate``: ``+5%`` is relative (the rep's win rate × 1.05, at most 100 %), ``+5pp`` adds
  points; with the same opportunities, revenue scales with the win rate: factor = new / old;
* ``deal_size``: ``+8%`` → factor 1.08;
* ``cycle``: ``-10%`` → cycles 10 % shorter, so the same reps close 1 / 0.9 as many deals in a
  year: factor = 1 / (1 + cycle);
* ``headcount``: ``+3`` hires from 1 January at the company median productivity, ramping over
  ``ramp_months`` (month k at k/(R+1)); ``-2`` removes two full median reps.

Then: **expected revenue** = Σ productivity × capacity × factors; **target** = base × (1 +
growth); **quota coverage** = Σ quotas / target;
**capacity gap** = target − expected revenue; **hires needed** = ⌈gap / what one ramping hire
is expected to bring⌉ (0 when there is no gap); **commission cost** (with ``--plan``) = the plan's
statements (the incentives calculator) for every payee and period of the year over the base
year's won deals moved one year on, each amount × its rep's factors (a new rep or hire gets the
deals of the median rep scaled to its productivity × capacity); **cost of sales** = commission
cost (+ ``rep_cost`` × full-time equivalents when given) and its share of expected revenue.
A rep's quota = (1 + growth) × productivity × capacity, as ``plan quotas`` computes it.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from attain.core import DealEvent, Engine, Period, UserError, quantize
from attain.plugins.goals import rep_capacity

ZERO = Decimal(0)
ONE = Decimal(1)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Lever:
    """A change of one assumption: relative (``+5%`` → 0.05) or in points (``+5pp``)."""

    value: Decimal = ZERO
    points: bool = False

    @staticmethod
    def parse(text: str | None, what: str, points_ok: bool = False) -> Lever:
        if text is None or text.strip() == "":
            return Lever()
        t = text.strip().replace(" ", "")
        points = t.lower().endswith("pp")
        try:
            if points:
                if not points_ok:
                    raise UserError(f"--{what}: points (pp) only apply to the win rate")
                return Lever(Decimal(t[:-2]) / 100, True)
            if t.endswith("%"):
                return Lever(Decimal(t[:-1]) / 100)
            return Lever(Decimal(t))
        except ArithmeticError:
            raise UserError(f"--{what}: {text!r} is not a change such as +5% or -0.1") from None


def _dec(f: Fraction) -> Decimal:
    return Decimal(f.numerator) / Decimal(f.denominator)


def win_factor(rate: Decimal | None, lever: Lever) -> Decimal:
    """new win rate / old win rate (1 when the rate is unknown or 0)."""
    if lever.value == 0 or not rate:
        return ONE
    new = rate + lever.value if lever.points else rate * (1 + lever.value)
    new = min(max(new, ZERO), ONE)
    return new / rate


def _check(deal_size: Lever, cycle: Lever, ramp_months: int) -> None:
    if deal_size.value <= -1:
        raise UserError("--deal-size: a change of -100% or less leaves no deal")
    if cycle.value <= -1:
        raise UserError("--cycle: a cycle cannot shrink by 100% or more")
    if ramp_months < 0:
        raise UserError("--ramp-months must be 0 or more")


def _shift(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _ratio(won: int, lost: int) -> Decimal | None:
    return Decimal(won) / Decimal(won + lost) if won + lost else None


@dataclass
class Basis:
    """What the recomputation starts from, read once: the base year per rep (the goals
    plugin's quota-planning rules: productivity = the rep's won revenue in the base year; a new
    rep — on the roster, no deal at all — gets the median of the team's existing reps, else the
    company median; win rate = won / (won + lost) closed in the base year, the team's or the
    company's for new reps)."""

    year: int
    base_actual: Decimal
    reps: list[dict[str, Any]]
    win_all: Decimal | None
    median: Decimal
    deals: dict[str, list[DealEvent]]

    @staticmethod
    def load(engine: Engine, tenant: str, year: int) -> Basis:
        dims = engine.dimensions(tenant)
        owners: set[str] = set()
        revenue: dict[str, Decimal] = {}
        won: dict[str, int] = {}
        lost: dict[str, int] = {}
        deals: dict[str, list[DealEvent]] = {}
        for d in engine.deals(tenant):
            if d.status == "deleted":
                continue
            owners.add(d.owner)
            if d.closed_on is None or d.closed_on.year != year - 1 or d.status not in ("won", "lost"):
                continue
            if d.status == "won":
                revenue[d.owner] = revenue.get(d.owner, ZERO) + (d.amount or ZERO)
                won[d.owner] = won.get(d.owner, 0) + 1
                deals.setdefault(d.owner, []).append(d)
            else:
                lost[d.owner] = lost.get(d.owner, 0) + 1
        base_actual = sum(revenue.values(), ZERO)
        if base_actual <= 0:
            raise UserError(f"no won revenue in {year - 1} to plan {year} from")
        everyone = sorted(set(dims.reps) | owners)

        def team(rep: str) -> str | None:
            r = dims.reps.get(rep)
            return r.manager if r else None

        existing = {r: max(revenue.get(r, ZERO), ZERO) for r in everyone if r in owners}
        team_prod: dict[str | None, list[Decimal]] = {}
        team_won: dict[str | None, list[int]] = {}
        for r, v in existing.items():
            team_prod.setdefault(team(r), []).append(v)
            tw = team_won.setdefault(team(r), [0, 0])
            tw[0] += won.get(r, 0)
            tw[1] += lost.get(r, 0)
        median = Decimal(statistics.median(existing.values()))
        win_all = _ratio(sum(won.values()), sum(lost.values()))
        reps = []
        for r in everyone:
            new = r not in owners
            if new:
                peers = team_prod.get(team(r))
                productivity = Decimal(statistics.median(peers)) if peers else median
                tw_ = team_won.get(team(r))
                win = (_ratio(*tw_) if tw_ else None) or win_all
            else:
                productivity, win = existing[r], _ratio(won.get(r, 0), lost.get(r, 0))
            rep = dims.reps.get(r)
            reps.append({"rep": r, "manager": team(r), "region": rep.region if rep else None,
                         "new": new, "productivity": productivity, "win_rate": win})
        return Basis(year, base_actual, reps, win_all, median, deals)


def whatif(engine: Engine, tenant: str, year: int, **levers: Any) -> dict[str, Any]:
    """:func:`recompute` over the tenant's :class:`Basis` (one read of the store)."""
    plan = levers.pop("plan", None)
    compiled = load_plan(plan) if plan is not None else None
    return recompute(Basis.load(engine, tenant, year), plan=compiled, **levers)


def load_plan(path: Path) -> Any:
    """A commission plan file, compiled by the incentives plugin."""
    from attain.plugins.incentives import PlanError, load_plan_file

    try:
        return load_plan_file(path)
    except PlanError as exc:
        first = exc.problems[0] if exc.problems else (None, "", "invalid plan")
        where = f"{exc.source}:{first[0]}" if first[0] is not None else exc.source
        more = f" (and {len(exc.problems) - 1} more problem(s))" if len(exc.problems) > 1 else ""
        raise UserError(f"invalid plan {where}: {first[1] + ': ' if first[1] else ''}{first[2]}"
                        f"{more}") from None


def _row(r: dict[str, Any], cap: Decimal, factor: Decimal, g1: Decimal, hire: bool = False
         ) -> dict[str, Any]:
    base = r["productivity"] * cap
    return {**r, "hire": hire, "capacity": quantize(cap, 4), "factor": factor,
            "baseline": quantize(base, 2), "expected": quantize(base * factor, 2),
            "quota": quantize(base * g1, 2)}


def recompute(basis: Basis, *, headcount: int = 0, win_rate: Lever = Lever(),
              deal_size: Lever = Lever(), cycle: Lever = Lever(), ramp_months: int = 3,
              growth: Decimal = Decimal("0.10"), plan: Any = None,
              rep_cost: Decimal | None = None) -> dict[str, Any]:
    """The plan of ``basis.year`` under the levers (pure, in memory)."""
    _check(deal_size, cycle, ramp_months)
    if growth <= -1:
        raise UserError(f"--growth {growth} would make the target 0 or less")
    year = basis.year
    plan_year = Period.calendar("year", year)
    size_f, cycle_f, g1 = 1 + deal_size.value, ONE / (1 + cycle.value), 1 + growth
    ramp = _dec(rep_capacity("new rep", plan_year, plan_year.start, ramp_months, True))
    caps = [ramp if r["new"] else ONE for r in basis.reps]
    reps = [_row(r, cap, win_factor(r["win_rate"], win_rate) * size_f * cycle_f, g1)
            for r, cap in zip(basis.reps, caps, strict=True)]
    if headcount < 0 and -headcount > len(reps):
        raise UserError(f"--headcount {headcount}: there are only {len(reps)} reps")
    hire_factor = win_factor(basis.win_all, win_rate) * size_f * cycle_f
    for i in range(abs(headcount)):
        hire = headcount > 0  # a leaver takes away one full median rep
        caps.append(ramp if hire else -ONE)
        reps.append(_row({"rep": f"{'hire' if hire else 'leaver'} {i + 1}", "manager": None,
                          "region": None, "new": True, "productivity": basis.median,
                          "win_rate": basis.win_all}, ramp if hire else -ONE, hire_factor, g1,
                         hire=True))
    hire_expected = quantize(basis.median * ramp * hire_factor, 2)
    assert hire_expected is not None
    expected = sum((r["expected"] for r in reps), ZERO)
    baseline = sum((r["baseline"] for r in reps), ZERO)
    # the unrounded sum, rounded once: what ``plan quotas`` spreads over the reps in cents
    quota_total = quantize(sum((r["productivity"] * cap for r, cap in zip(reps, caps, strict=True)),
                               ZERO) * g1, 2)
    assert quota_total is not None
    target = quantize(basis.base_actual * g1, 2)
    assert target is not None
    gap = target - expected
    hires_needed = math.ceil(gap / hire_expected) if gap > 0 and hire_expected > 0 else 0
    fte = sum(caps, ZERO)
    commission = commission_cost(basis, plan, reps) if plan is not None else None
    cost = None
    if commission is not None or rep_cost is not None:
        cost = quantize((commission or ZERO) + (rep_cost * fte if rep_cost else ZERO), 2)
    new_names = [r["rep"] for r in reps if r["new"] and not r["hire"]]
    return {
        "year": year, "base_year": year - 1, "growth": growth,
        "levers": {"headcount": headcount, "win_rate": _lever_text(win_rate),
                   "deal_size": _lever_text(deal_size), "cycle": _lever_text(cycle),
                   "ramp_months": ramp_months},
        "base_actual": basis.base_actual, "target": target,
        "headcount": sum(1 for r in reps if r["capacity"] > 0) - max(-headcount, 0),
        "fte": quantize(fte, 4),
        "baseline_revenue": baseline, "expected_revenue": expected,
        "quota_total": quota_total,
        "quota_coverage": quantize(quota_total / target, 4),
        "expected_coverage": quantize(expected / target, 4),
        "capacity_gap": gap, "hires_needed": hires_needed,
        "hire_expected_revenue": hire_expected,
        "commission_cost": commission,
        "commission_plan": plan.name if plan is not None else None,
        "commission_rate": quantize(commission / expected, 4) if commission is not None and expected
        else None,
        "rep_cost": rep_cost,
        "cost_of_sales": cost,
        "cost_of_sales_ratio": quantize(cost / expected, 4) if cost is not None and expected else None,
        "reps": reps,
        "notes": ["new reps (on the roster, no deal at all): " + (", ".join(new_names) or "none")],
    }


def _lever_text(lever: Lever) -> str | None:
    if lever.value == 0:
        return None
    pct = (lever.value * 100).normalize()
    return f"{'+' if pct > 0 else ''}{pct:f}{'pp' if lever.points else '%'}"


def commission_cost(basis: Basis, plan: Any, reps: list[dict[str, Any]]) -> Decimal:
    """What ``plan`` pays over the year for the expected deals (see the module doc)."""
    from attain.plugins.incentives import Assignment, Calculator, DealFact

    year = basis.year
    existing = [r for r in reps if not r["new"] and r["rep"] in basis.deals]
    if not existing:
        return ZERO
    template = min(existing, key=lambda r: (abs(r["productivity"] - basis.median), r["rep"]))
    facts = []
    for r in reps:
        if r["capacity"] <= 0:
            continue
        own = not r["new"] and r["rep"] in basis.deals
        source = r if own else template
        scale = r["factor"] if own else (
            r["productivity"] * Decimal(r["capacity"]) / source["productivity"] * r["factor"])
        for d in basis.deals.get(source["rep"], []):
            assert d.amount is not None and d.closed_on is not None
            facts.append(DealFact(f"{d.deal_id}~{r['rep']}", r["rep"],
                                  quantize(d.amount * scale, 2) or ZERO,
                                  _shift(d.closed_on, 1), d.product, None, d.account))
    quota_of = {a.rep: a.quota for a in (plan.spec.assignments or []) if a.quota is not None}

    def resolve(payee: str, period: Any) -> Assignment:
        return Assignment(plan, quota_of.get(payee))

    roster = {r["rep"]: r["manager"] for r in reps} if plan.pays_managers else None
    calc = Calculator(resolve, roster)
    calc.load(facts)
    total = ZERO
    first = Period.of(dt.date(year, 1, 1), plan.period)
    for payee in sorted(calc.payees()):
        p = first
        while p.year == year:
            total += calc.compute_with(payee, p, resolve(payee, p)).total
            p = p.next()
    return total
