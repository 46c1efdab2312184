"""Ramp from real start dates: the rep lifecycle events (``type: "rep"``, kind ``hired`` /
``left``) say when each rep started, so quota planning ramps a rep from their hire month
instead of assuming every rep without deals starts on 1 January.

For a plan period P (a year) and a rep with rep events:

* **start**: the UTC day of their latest ``hired`` event on or before P's last day (a rehire
  starts a new ramp); a rep hired only after P has no capacity in P.
* **left**: a rep whose latest ``hired``/``left`` event up to P's first day is ``left``, and who
  is not hired again in P, has left: capacity 0, no quota. (A departure during P is not
  planned: the plan is made at the year's start.) On one day, ``hired`` counts before ``left``.
* **capacity**: ramped linearly over R months counted from the hire month (the hire month,
  counted whole, is month 1 at 1/(R+1), month k at k/(R+1), then 1; with R = 0, 1 from the
  hire month), 0 before it, averaged over P by the months' days (the rule of
  :func:`attain.plugins.goals.cascade.rep_capacity`, with the hire month as month 1).
* **ramp status** at P's first day: ``not started`` (hired later), ``ramping: month k of R``,
  ``ramped``, or ``left``.

Reps without rep events keep the plan's default rule (see :mod:`.planning`). Pure functions
over the events, so the result does not depend on the order the events arrived in.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from attain.core import Period, utc_day
from attain.core.models import RepEvent


@dataclass(frozen=True)
class Ramp:
    """One rep's start in a plan period: the hire day (None: left), capacity and ramp status."""

    start: dt.date | None
    capacity: Fraction
    status: str


def lifecycles(events: Iterable[Any]) -> dict[str, list[tuple[dt.date, str]]]:
    """Each rep's ``hired``/``left`` events as (UTC day, kind), by day, hired first on a day."""
    out: dict[str, list[tuple[dt.date, str]]] = defaultdict(list)
    for ev in events:
        if isinstance(ev, RepEvent) and ev.kind in ("hired", "left"):
            out[ev.rep].append((utc_day(ev.occurred_at), ev.kind))
    for days in out.values():
        days.sort(key=lambda t: (t[0], t[1] != "hired"))
    return dict(out)


def _months_in(start: dt.date, day: dt.date) -> int:
    """The ramp month ``day`` is in (the hire month is 1)."""
    return (day.year - start.year) * 12 + (day.month - start.month) + 1


def ramped_capacity(start: dt.date, period: Period, ramp_months: int) -> Fraction:
    """The share of full productivity over ``period`` of a rep hired on ``start``."""
    total = Fraction(0)
    for m in period.months():
        k = _months_in(start, m.start)
        cap = Fraction(0) if k <= 0 else Fraction(1) if k > ramp_months else Fraction(k, ramp_months + 1)
        total += cap * m.days
    return total / period.days


def ramp_of(life: list[tuple[dt.date, str]], period: Period, ramp_months: int) -> Ramp | None:
    """A rep's ramp in ``period`` from their lifecycle (None: no ``hired`` event at all)."""
    hires = [d for d, k in life if k == "hired"]
    if not hires:
        return None
    last = None
    for d, k in life:
        if d > period.start:
            break
        last = (d, k)
    rehired = any(period.start < d <= period.end for d in hires)
    if last is not None and last[1] == "left" and not rehired:
        return Ramp(None, Fraction(0), "left")
    in_time = [d for d in hires if d <= period.end]
    start = max(in_time) if in_time else min(hires)
    capacity = ramped_capacity(start, period, ramp_months)
    if start > period.start:
        status = "not started"
    elif ramp_months > 0 and (month := _months_in(start, period.start)) <= ramp_months:
        status = f"ramping: month {month} of {ramp_months}"
    else:
        status = "ramped"
    return Ramp(start, capacity, status)


def ramps(events: Iterable[Any], period: Period, ramp_months: int) -> dict[str, Ramp]:
    """Every rep with a ``hired`` event: their ramp in ``period``."""
    out = {}
    for rep, life in lifecycles(events).items():
        r = ramp_of(life, period, ramp_months)
        if r is not None:
            out[rep] = r
    return out


__all__ = ["Ramp", "lifecycles", "ramp_of", "ramped_capacity", "ramps"]
