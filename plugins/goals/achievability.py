"""Is a goal achievable? Its target against the owner's best earlier period of the same length."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from .model import Goal
from .periods import Period, custom, parse_period


def earlier_period(p: Period) -> Period:
    """The period of the same kind and length just before ``p``."""
    if p.kind == "year":
        return p.shift_years(-1)
    if p.kind in ("half", "quarter", "month"):
        months = {"half": 6, "quarter": 3, "month": 1}[p.kind]
        y, m = p.start.year, p.start.month - months
        if m < 1:
            y, m = y - 1, m + 12
        label = {"half": f"{y}-H{(m - 1) // 6 + 1}", "quarter": f"{y}-Q{(m - 1) // 3 + 1}",
                 "month": f"{y}-{m:02d}"}[p.kind]
        return parse_period(label)
    return custom(p.start - dt.timedelta(days=p.days), p.start - dt.timedelta(days=1))


def history_periods(period: Period, first: dt.date | None, limit: int = 60) -> list[Period]:
    """The periods of the same length before ``period``, newest first, back to the day
    ``first`` (none when it is None), at most ``limit``."""
    out: list[Period] = []
    if first is None:
        return out
    p = earlier_period(period)
    while p.end >= first and len(out) < limit:
        out.append(p)
        p = earlier_period(p)
    return out


def achievability_warnings(goal: Goal, history: Iterable[tuple[Period, Decimal | None]],
                           factor: Decimal) -> list[str]:
    """Warnings (never errors) when the target is far beyond the owner's best earlier period
    of the same length: ``history`` is each earlier period with the goal's figure in it (None:
    no figure), ``factor`` the tenant's ``achievable_factor``. Notes what was checked on the
    goal (``goal.notes``)."""
    best: tuple[Period, Decimal] | None = None
    for p, v in history:
        if v is None:
            continue
        if best is None or (v > best[1] if goal.direction == "up" else v < best[1]):
            best = (p, v)
    what = f"{goal.period.kind} period" if goal.period.kind != "custom" else \
        f"{goal.period.days}-day period"
    if best is None:
        goal.notes.append(f"achievability not checked: no earlier {what} of {goal.owner} "
                          f"with {goal.metric} before {goal.period.start}")
        return []
    p, v = best
    if goal.direction == "up":
        if v <= 0:
            return [f"achievable? {goal.owner} had no {goal.metric} in any earlier {what} "
                    f"(best {p}: {v}); the target {goal.target} has no track record"]
        ratio = goal.target / v
        if ratio > factor:
            return [f"achievable? target {goal.target} is {ratio:.2f}× the best earlier "
                    f"{what} of {goal.owner} ({p}: {goal.metric} {v}); that is above the "
                    f"achievable_factor {factor}"]
    else:
        if goal.target <= 0 < v:
            return [f"achievable? target {goal.target} for {goal.metric} (lower is better) "
                    f"was never reached: the best earlier {what} of {goal.owner} is "
                    f"{p}: {v}"]
        if goal.target > 0 and v / goal.target > factor:
            return [f"achievable? target {goal.target} is {v / goal.target:.2f}× below the "
                    f"best earlier {what} of {goal.owner} ({p}: {goal.metric} {v}; lower "
                    f"is better); that is beyond the achievable_factor {factor}"]
    goal.notes.append(f"achievable: best earlier {what} of {goal.owner} was {p} "
                      f"({goal.metric} {v})")
    return []
