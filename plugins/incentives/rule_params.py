"""The parameter types the built-in rule types share (rates, percents of quota, amounts, deal
filters, tiers) and the tier arithmetic (marginal and retroactive lines). The conventions are in
:mod:`.rules`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
)

from .calc import RuleContext
from .model import RATE_ABOVE_100, Credit, Line
from .money import HUNDRED, ZERO, to_decimal


def rate_value(v: Any) -> Any:
    if isinstance(v, str) and v.strip().endswith("%"):
        return to_decimal(v.strip()[:-1]) / HUNDRED
    if isinstance(v, (int, float, str)) and not isinstance(v, bool):
        return to_decimal(v)
    return v


def _pct(v: Any) -> Any:
    if isinstance(v, str) and v.strip().endswith("%"):
        return to_decimal(v.strip()[:-1])
    if isinstance(v, (int, float, str)) and not isinstance(v, bool):
        return to_decimal(v)
    return v


def _amount(v: Any) -> Any:
    if isinstance(v, (int, float, str)) and not isinstance(v, bool):
        return to_decimal(v)
    return v


def _at_most_100_pct(v: Decimal, info: ValidationInfo) -> Decimal:
    """A rate in a plan file is at most 100 % unless its rule says ``allow_rate_above_100``
    (only checked when validating a plan: see :data:`~.model.RATE_ABOVE_100`)."""
    ctx = info.context
    if isinstance(ctx, dict) and ctx.get(RATE_ABOVE_100) is False and v > 1:
        raise ValueError(f"a rate of {fmt_decimal(v * HUNDRED)}% is above 100%; if that is meant, "
                         f"set {RATE_ABOVE_100}: true on this rule")
    return v


Rate = Annotated[Decimal, BeforeValidator(rate_value), Field(ge=0, description="fraction or 'n%'"),
                 AfterValidator(_at_most_100_pct)]
Pct = Annotated[Decimal, BeforeValidator(_pct), Field(ge=0, description="percent of quota")]
Amount = Annotated[Decimal, BeforeValidator(_amount), Field(ge=0)]


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Filters(Params):
    """Which credits a rule pays for (all of them when no filter is given)."""

    products: list[str] | None = Field(default=None, description="product names")
    series: list[str] | None = Field(default=None, description="product series, e.g. GTX")
    deal_types: list[str] | None = Field(
        default=None, description="new (account's first won deal), existing, unknown")

    def matcher(self, ctx: RuleContext) -> Callable[[Credit], bool] | None:
        products = {p.casefold() for p in self.products} if self.products else None
        series = {s.casefold() for s in self.series} if self.series else None
        types = set(self.deal_types) if self.deal_types else None
        if products is None and series is None and types is None:
            return None

        def match(c: Credit) -> bool:
            d = c.deal
            if products is not None and (d.product or "").casefold() not in products:
                return False
            if series is not None and (d.series or "").casefold() not in series:
                return False
            return types is None or ctx.deal_type(d) in types

        return match


class Tier(Params):
    from_pct: Pct = Field(default=ZERO, description="attainment % where the tier starts (inclusive)")
    to_pct: Pct | None = Field(default=None, description="where it ends (exclusive); none = no end")
    rate: Rate
    label: str | None = None

    def name(self) -> str:
        if self.label:
            return self.label
        lo = format(self.from_pct.normalize(), "f")
        return f"{lo}%+" if self.to_pct is None else f"{lo}-{format(self.to_pct.normalize(), 'f')}%"


def check_tiers(tiers: Sequence[Tier]) -> None:
    if not tiers:
        raise ValueError("at least one tier is needed")
    if tiers[0].from_pct != 0:
        raise ValueError("the first tier must start at from_pct 0")
    for i, (a, b) in enumerate(zip(tiers, tiers[1:], strict=False)):
        if a.to_pct is None:
            raise ValueError(f"tier {i + 1} has no to_pct but is not the last tier")
        if b.from_pct != a.to_pct:
            raise ValueError(
                f"tier {i + 2} starts at {b.from_pct}% but tier {i + 1} ends at {a.to_pct}%: "
                "tiers must be contiguous")
    for i, t in enumerate(tiers):
        if t.to_pct is not None and t.to_pct <= t.from_pct:
            raise ValueError(f"tier {i + 1}: to_pct must be greater than from_pct")
    if tiers[-1].to_pct is not None:
        raise ValueError("the last tier must be open-ended (no to_pct)")


Bound = tuple[Decimal, Decimal | None, Decimal, str]


def tier_bounds(tiers: Sequence[Tier], quota: Decimal) -> list[Bound]:
    return [(quota * t.from_pct / HUNDRED,
             None if t.to_pct is None else quota * t.to_pct / HUNDRED, t.rate, t.name())
            for t in tiers]


def marginal_lines(credits: Sequence[Credit], bounds: Sequence[Bound],
                   match: Callable[[Credit], bool] | None, kind: str = "commission",
                   skip_zero_rate: bool = False) -> Iterator[Line]:
    """Fill the tiers with the credits in closing order; each slice is paid at its tier's rate.

    A deal that crosses a boundary yields one line per tier it touches.
    """
    his = [b[1] for b in bounds]
    last = len(bounds) - 1
    ti = 0
    cum = ZERO
    hundred = HUNDRED
    for c in credits:
        lo = cum
        amt = c.amount
        hi = lo + amt
        cum = hi
        while ti < last and lo >= his[ti]:  # type: ignore[operator]
            ti += 1
        if match is not None and not match(c):
            continue
        share = None if c.share == hundred else c.share
        deal_id = c.deal.deal_id
        if amt == 0:
            _, _, rate, label = bounds[ti]
            if not (skip_zero_rate and rate == 0):
                yield Line(ZERO, kind, deal_id, c.rep, ZERO, rate, label, share)
            continue
        t = ti
        while True:
            _, t_hi, rate, label = bounds[t]
            seg_hi = hi if t_hi is None or hi <= t_hi else t_hi
            portion = seg_hi - lo
            if not (skip_zero_rate and rate == 0):
                yield Line(portion * rate, kind, deal_id, c.rep, portion, rate, label, share)
            if seg_hi == hi:
                break
            lo = seg_hi
            t += 1


def retroactive_lines(credits: Sequence[Credit], bounds: Sequence[Bound], total: Decimal,
                      match: Callable[[Credit], bool] | None, kind: str = "commission",
                      note: str | None = None) -> Iterator[Line]:
    """Pay every credit at the rate of the tier the period's total reached."""
    bound = bounds[0]
    for b in bounds:
        if total >= b[0]:
            bound = b
    _, _, rate, label = bound
    for c in credits:
        if match is not None and not match(c):
            continue
        yield Line(c.amount * rate, kind, c.deal.deal_id, c.rep, c.amount, rate, label,
                   None if c.share == HUNDRED else c.share, note)


def line_groups(lines: Sequence[Line]) -> list[tuple[tuple[str | None, str | None], Decimal]]:
    """Sum line amounts per (deal, credited rep), deals in first-seen order, deal-less last."""
    sums: dict[tuple[str | None, str | None], Decimal] = {}
    for ln in lines:
        key = (ln.deal, ln.rep if ln.deal is not None else None)
        sums[key] = sums.get(key, ZERO) + ln.amount
    items = list(sums.items())
    return [kv for kv in items if kv[0][0] is not None] + [kv for kv in items if kv[0][0] is None]


def fmt_decimal(d: Decimal | None) -> str:
    return "–" if d is None else format(d.normalize(), "f")


# ---------------------------------------------------------------------------------------------
# flat_rate
