"""The built-in commission rule types.

Each is a :class:`RuleType` registered through ``attain_register_commission_rules`` exactly as a
partner's would be (see :mod:`attain.plugins.incentives`), so a plan can mix them with a partner's.

Conventions shared by every rule:

* rates are fractions (``0.05``) or percent strings (``"5%"``), at most 100 % in a plan file
  unless the rule sets ``allow_rate_above_100: true``; thresholds ``*_pct`` are percent of quota
  (``100`` = quota reached) and are compared exactly (``credited × 100 ≥ pct × quota``);
* credits are walked in closing order (``closed_on``, then deal id), which decides which deal
  crosses a tier boundary or a cap;
* modifiers (gate, cap, decelerator) act on the lines of earlier rules, per deal, so every
  dollar stays attributable to a deal and a clawback can reverse exactly what a deal earned.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from .calc import NON_COMMISSION, RuleContext
from .model import Line, RuleError, RuleType
from .money import HUNDRED, ZERO
from .periods import Period
from .rule_params import (
    Amount,
    Filters,
    Params,
    Pct,
    Rate,
    Tier,
    check_tiers,
    fmt_decimal,
    line_groups,
    marginal_lines,
    rate_value,
    retroactive_lines,
    tier_bounds,
)


class FlatRate(Filters):
    rate: Rate


def flat_rate(ctx: RuleContext, p: FlatRate) -> Iterator[Line]:
    match = p.matcher(ctx)
    rate = p.rate
    for c in ctx.credits:
        if match is None or match(c):
            yield Line(c.amount * rate, "commission", c.deal.deal_id, c.rep, c.amount, rate,
                       None, None if c.share == HUNDRED else c.share)


# ---------------------------------------------------------------------------------------------
# tiered


class Tiered(Filters):
    tiers: list[Tier]
    mode: Literal["marginal", "retroactive"] = "marginal"

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, v: list[Tier]) -> list[Tier]:
        check_tiers(v)
        return v


def tiered(ctx: RuleContext, p: Tiered) -> Iterator[Line]:
    credits = ctx.credits
    if not credits:
        return
    bounds = tier_bounds(p.tiers, ctx.require_quota())
    match = p.matcher(ctx)
    if p.mode == "marginal":
        yield from marginal_lines(credits, bounds, match)
    else:
        yield from retroactive_lines(credits, bounds, ctx.credited, match,
                                     note=f"retroactive: {fmt_decimal(ctx.credited)} credited")


# ---------------------------------------------------------------------------------------------
# accelerator / decelerator


class Accelerator(Filters):
    above_pct: Pct = Decimal(100)
    rate: Rate = Field(description="extra rate on credit above the threshold")
    mode: Literal["marginal", "retroactive"] = "marginal"


def accelerator(ctx: RuleContext, p: Accelerator) -> Iterator[Line]:
    credits = ctx.credits
    if not credits:
        return
    quota = ctx.require_quota()
    tiers = [Tier(from_pct=ZERO, to_pct=p.above_pct, rate=ZERO, label=f"below {fmt_decimal(p.above_pct)}%"),
             Tier(from_pct=p.above_pct, rate=p.rate, label=f"above {fmt_decimal(p.above_pct)}%")]
    if p.above_pct == 0:
        tiers = tiers[1:]
    bounds = tier_bounds(tiers, quota)
    match = p.matcher(ctx)
    if p.mode == "marginal":
        yield from marginal_lines(credits, bounds, match, skip_zero_rate=True)
    elif ctx.reached(p.above_pct):
        yield from retroactive_lines(credits, bounds[-1:], ctx.credited, match)


class Decelerator(Params):
    below_pct: Pct
    factor: Annotated[Decimal, BeforeValidator(rate_value), Field(ge=0, le=1)] = Field(
        description="share of the commission still paid below the threshold, e.g. 0.5")
    applies_to: list[str] | None = None


def decelerator(ctx: RuleContext, p: Decelerator) -> Iterator[Line]:
    lines = ctx.earlier(p.applies_to)
    if not lines or ctx.reached(p.below_pct):
        return
    cut = p.factor - 1
    note = f"attainment below {fmt_decimal(p.below_pct)}%: paid at {fmt_decimal(p.factor * HUNDRED)}%"
    for (deal, rep), s in line_groups(lines):
        if s:
            yield Line(s * cut, "modifier", deal, rep, s, cut, None, None, note)


# ---------------------------------------------------------------------------------------------
# gate and cap


class Gate(Params):
    min_pct: Pct
    applies_to: list[str] | None = None


def gate(ctx: RuleContext, p: Gate) -> Iterator[Line]:
    lines = ctx.earlier(p.applies_to)
    if not lines or ctx.reached(p.min_pct):
        return
    note = f"gate: attainment below {fmt_decimal(p.min_pct)}% pays nothing"
    for (deal, rep), s in line_groups(lines):
        if s:
            yield Line(-s, "modifier", deal, rep, s, None, None, None, note)


class Cap(Params):
    per_deal: Amount | None = None
    per_period: Amount | None = None
    applies_to: list[str] | None = None

    @model_validator(mode="after")
    def _one(self) -> Cap:
        if self.per_deal is None and self.per_period is None:
            raise ValueError("set per_deal, per_period or both")
        return self


def cap(ctx: RuleContext, p: Cap) -> Iterator[Line]:
    groups = line_groups(ctx.earlier(p.applies_to))
    capped: list[tuple[tuple[str | None, str | None], Decimal]] = []
    for key, s in groups:
        if p.per_deal is not None and key[0] is not None and s > p.per_deal:
            yield Line(p.per_deal - s, "modifier", key[0], key[1], s, None, None, None,
                       f"cap per deal {fmt_decimal(p.per_deal)}")
            s = p.per_deal
        capped.append((key, s))
    if p.per_period is None:
        return
    paid = ZERO
    for (deal, rep), s in capped:
        if s <= 0:
            paid += s
            continue
        room = max(p.per_period - paid, ZERO)
        pay = min(s, room)
        paid += pay
        if pay < s:
            yield Line(pay - s, "modifier", deal, rep, s, None, None, None,
                       f"cap per period {fmt_decimal(p.per_period)}")


# ---------------------------------------------------------------------------------------------
# bonuses


class Milestone(Params):
    at_pct: Pct
    amount: Amount
    label: str | None = None


class MilestoneBonus(Params):
    milestones: list[Milestone] = Field(min_length=1)


def milestone_bonus(ctx: RuleContext, p: MilestoneBonus) -> Iterator[Line]:
    if not ctx.credits:
        return
    for m in sorted(p.milestones, key=lambda m: m.at_pct):
        if ctx.reached(m.at_pct):
            yield Line(m.amount, "bonus", note=m.label or f"attainment ≥ {fmt_decimal(m.at_pct)}%",
                       inputs={"at_pct": m.at_pct, "credited": ctx.credited,
                               "quota": ctx.quota})


class StretchBonus(Filters):
    at_pct: Pct
    amount: Amount = ZERO
    rate: Rate = Field(default=ZERO, description="extra rate on credit above the threshold")

    @model_validator(mode="after")
    def _some(self) -> StretchBonus:
        if self.amount == 0 and self.rate == 0:
            raise ValueError("set amount, rate or both")
        return self


def stretch_bonus(ctx: RuleContext, p: StretchBonus) -> Iterator[Line]:
    if not ctx.credits or not ctx.reached(p.at_pct):
        return
    if p.amount:
        yield Line(p.amount, "bonus", note=f"stretch: attainment ≥ {fmt_decimal(p.at_pct)}%",
                   inputs={"at_pct": p.at_pct, "credited": ctx.credited, "quota": ctx.quota})
    if p.rate:
        tiers = [Tier(to_pct=p.at_pct, rate=ZERO), Tier(from_pct=p.at_pct, rate=p.rate,
                                                        label=f"stretch {fmt_decimal(p.at_pct)}%+")]
        bounds = tier_bounds(tiers, ctx.require_quota())
        yield from marginal_lines(ctx.credits, bounds, p.matcher(ctx), "bonus",
                                  skip_zero_rate=True)


class Spif(Filters):
    name: str | None = None
    start: dt.date
    end: dt.date
    amount_per_deal: Amount = ZERO
    rate: Rate = ZERO
    min_deal_amount: Amount | None = None
    max_cycle_days: int | None = Field(default=None, ge=0,
                                       description="only deals closed within N days of engaging")

    @model_validator(mode="after")
    def _check(self) -> Spif:
        if self.end < self.start:
            raise ValueError("end is before start")
        if self.amount_per_deal == 0 and self.rate == 0:
            raise ValueError("set amount_per_deal, rate or both")
        return self


def spif(ctx: RuleContext, p: Spif) -> Iterator[Line]:
    if p.end < ctx.period.start or p.start > ctx.period.end:
        return
    match = p.matcher(ctx)
    label = p.name or "SPIF"
    for c in ctx.credits:
        d = c.deal
        if not p.start <= d.closed_on <= p.end:
            continue
        if match is not None and not match(c):
            continue
        if p.min_deal_amount is not None and d.amount < p.min_deal_amount:
            continue
        if p.max_cycle_days is not None:
            if d.engaged_on is None or (d.closed_on - d.engaged_on).days > p.max_cycle_days:
                continue
        exact = p.amount_per_deal * c.share / HUNDRED + c.amount * p.rate
        yield Line(exact, "bonus", d.deal_id, c.rep, c.amount, p.rate or None, None,
                   None if c.share == HUNDRED else c.share, label,
                   inputs={"amount_per_deal": p.amount_per_deal} if p.amount_per_deal else None)


# ---------------------------------------------------------------------------------------------
# manager override


class ManagerOverride(Params):
    rate: Rate | None = None
    tiers: list[Tier] | None = None
    mode: Literal["marginal", "retroactive"] = "marginal"

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, v: list[Tier] | None) -> list[Tier] | None:
        if v is not None:
            check_tiers(v)
        return v

    @model_validator(mode="after")
    def _one(self) -> ManagerOverride:
        if (self.rate is None) == (self.tiers is None):
            raise ValueError("set either rate or tiers")
        return self


def manager_override(ctx: RuleContext, p: ManagerOverride) -> Iterator[Line]:
    credits = ctx.credits  # a manager-role rule sees the team's credits
    if not credits:
        return
    if p.rate is not None:
        rate = p.rate
        for c in credits:
            yield Line(c.amount * rate, "override", c.deal.deal_id, c.rep, c.amount, rate, None,
                       None if c.share == HUNDRED else c.share, f"team member {c.rep}")
        return
    assert p.tiers is not None
    bounds = tier_bounds(p.tiers, ctx.require_quota())
    if p.mode == "marginal":
        yield from marginal_lines(credits, bounds, None, "override")
    else:
        yield from retroactive_lines(credits, bounds, ctx.credited, None, "override",
                                     note=f"team credited {fmt_decimal(ctx.credited)}")


# ---------------------------------------------------------------------------------------------
# clawback


ReversalKind = Literal["lost", "reopened", "churned"]


def _all_reversals() -> list[ReversalKind]:
    return ["lost", "reopened", "churned"]


class Clawback(Params):
    within_days: int = Field(ge=0, description="reverse if lost/churned within N days of closing")
    on: list[ReversalKind] = Field(default_factory=_all_reversals)
    applies_to: list[str] | None = None


def clawback(ctx: RuleContext, p: Clawback) -> Iterator[Line]:
    kinds = set(p.on)
    wanted = set(p.applies_to) if p.applies_to else None
    for c in ctx.reversal_candidates():
        d = c.deal
        options: list[tuple[dt.date, str]] = []
        if d.reversed_on is not None and d.reversal in kinds:
            options.append((max(d.reversed_on, d.closed_on), d.reversal or "lost"))
        if "churned" in kinds:
            for t in ctx.churn_dates(d.account):
                if t >= d.closed_on:
                    options.append((t, "churned"))
                    break
        options = [o for o in options if (o[0] - d.closed_on).days <= p.within_days]
        if not options:
            continue
        when, why = min(options)
        if not ctx.period.contains(when):
            continue
        won = Period.of(d.closed_on, ctx.plan.period)
        source = ctx.lines if won == ctx.period else ctx.statement(won).lines
        paid = sum((ln.amount for ln in source
                    if ln.deal == d.deal_id and ln.rep == c.rep and ln.kind not in NON_COMMISSION
                    and (wanted is None or ln.rule in wanted)), ZERO)
        if paid:
            days = (when - d.closed_on).days
            yield Line(-paid, "clawback", d.deal_id, c.rep, paid, None, None,
                       None if c.share == HUNDRED else c.share,
                       f"{why} on {when.isoformat()}, {days} days after closing on "
                       f"{d.closed_on.isoformat()}", won.key)


# ---------------------------------------------------------------------------------------------
# draw


class Draw(Params):
    amount: Amount = Field(description="guaranteed pay per period")
    recoverable: bool = True
    start: dt.date | None = Field(default=None, description="when the balance starts "
                                  "(default: plan/assignment start, else 1 January)")


def _draw_start(ctx: RuleContext, p: Draw) -> dt.date:
    starts = [d for d in (p.start, ctx.plan.effective_from, ctx.assignment.start) if d]
    return max(starts) if starts else dt.date(ctx.period.year, 1, 1)


def draw(ctx: RuleContext, p: Draw) -> Iterator[Line]:
    earned = sum((ln.amount for ln in ctx.lines), ZERO)
    balance = ZERO
    if p.recoverable:
        prev = ctx.period.prev()
        if prev.end >= _draw_start(ctx, p):
            a = ctx.calc.resolve(ctx.payee, prev)
            if a is not None and a.plan.name == ctx.plan.name:
                balance = ctx.statement(prev).carry.get("draw_balance", ZERO)
    inputs = {"earned": earned, "draw": p.amount, "balance_before": balance}
    if earned < p.amount:
        top = p.amount - earned
        if p.recoverable:
            balance += top
        yield Line(top, "draw", basis=earned, note=(
            "recoverable" if p.recoverable else "non-recoverable") + f" draw tops up to "
            f"{fmt_decimal(p.amount)}", inputs=inputs)
    elif p.recoverable and balance > 0:
        recover = min(balance, earned - p.amount)
        if recover:
            balance -= recover
            yield Line(-recover, "draw", basis=earned,
                       note=f"recovers draw balance {fmt_decimal(inputs['balance_before'])}",
                       inputs=inputs)
    if p.recoverable:
        ctx.carry["draw_balance"] = balance


# ---------------------------------------------------------------------------------------------


def _rt(name: str, description: str, params: type[BaseModel], compute: Any,
        roles: tuple[str, ...] = ("rep",), kind: str = "commission") -> RuleType:
    return RuleType(name, description, params, compute, frozenset(roles), kind)


BUILTIN_RULES: tuple[RuleType, ...] = (
    _rt("flat_rate", "rate × credited won revenue, optionally only some products, series or "
        "deal types", FlatRate, flat_rate),
    _rt("tiered", "rates by attainment tier, marginal (each slice at its tier) or retroactive "
        "(everything at the tier reached)", Tiered, tiered),
    _rt("accelerator", "extra rate on credit above an attainment threshold (default 100 %)",
        Accelerator, accelerator),
    _rt("decelerator", "pays only a factor of earlier rules' commission below an attainment "
        "threshold", Decelerator, decelerator, kind="modifier"),
    _rt("gate", "nothing from earlier rules below a minimum attainment", Gate, gate,
        kind="modifier"),
    _rt("cap", "caps earlier rules' commission per deal and/or per period", Cap, cap,
        kind="modifier"),
    _rt("milestone_bonus", "fixed bonuses when attainment reaches milestones", MilestoneBonus,
        milestone_bonus, kind="bonus"),
    _rt("stretch_bonus", "a fixed amount and/or extra rate once a stretch attainment is reached",
        StretchBonus, stretch_bonus, kind="bonus"),
    _rt("spif", "time-boxed incentive per qualifying deal (product, series, deal type, size, "
        "cycle time)", Spif, spif, kind="bonus"),
    _rt("manager_override", "pays a manager on the team's credited revenue (flat or tiered on "
        "team attainment)", ManagerOverride, manager_override, ("manager",), "override"),
    _rt("clawback", "reverses a deal's commission in the period it is lost, reopened or its "
        "account churns, if within N days of closing", Clawback, clawback, ("rep", "manager"),
        "clawback"),
    _rt("draw", "guaranteed minimum per period; recoverable draws are recovered from later "
        "earnings above the draw", Draw, draw, ("rep", "manager"), "draw"),
)

__all__ = ["BUILTIN_RULES", "Filters", "Params", "Rate", "Pct", "Amount", "Tier", "RuleError",
           "marginal_lines", "retroactive_lines"]
