"""Pacing, projection and status: pure functions (no I/O, no clock).

* ``attainment = actual / target`` (for lower-is-better goals ``target / actual``).
* ``expected_attainment`` (the pace) for cumulative KPIs is linear: ``elapsed days / period days``
  with the as-of day included; seasonal pacing weights each month of the period by last year's
  share of that month. Level KPIs (ratios, averages, days) must hold all along: pace 1.
* ``projection`` = actual / pace (where the period would end at this pace); ``projection_run_rate``
  = actual + (actual of the trailing ``run_rate_days`` ÷ those days) × days left.
* ``status`` compares attainment with the pace: ``score = attainment / pace``;
  on_track if score ≥ on_track_ratio (0.95), at_risk if ≥ at_risk_ratio (0.80), else off_track.
  Before the period: not_started; when the KPI is undefined (no closed deal for a ratio): no_data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from attain.core.kpi import quantize

from .periods import Period

ZERO = Decimal(0)
ONE = Decimal(1)

STATUSES = ("not_started", "no_data", "on_track", "at_risk", "off_track")


@dataclass(frozen=True)
class Thresholds:
    on_track: Decimal = Decimal("0.95")
    at_risk: Decimal = Decimal("0.80")

    def __post_init__(self) -> None:
        if not (ZERO < self.at_risk <= self.on_track):
            raise ValueError(f"thresholds need 0 < at_risk_ratio ({self.at_risk}) <= "
                             f"on_track_ratio ({self.on_track})")


def linear_pace(period: Period, as_of: dt.date) -> Decimal:
    """Elapsed share of the period, the as-of day included (0 before, 1 after)."""
    return Decimal(period.elapsed_days(as_of)) / Decimal(period.days)


def seasonal_pace(period: Period, as_of: dt.date,
                  weights: Sequence[tuple[Period, Decimal]]) -> Decimal | None:
    """Pace weighted by ``weights`` (sub-period, weight): each sub-period counts for its weight
    and is linear within itself. None when the weights are all zero (caller falls back to linear)."""
    total = sum((max(w, ZERO) for _, w in weights), ZERO)
    if total == 0:
        return None
    done = ZERO
    for p, w in weights:
        if w > 0:
            done += max(w, ZERO) * Decimal(p.elapsed_days(as_of)) / Decimal(p.days)
    return done / total


def attainment_of(actual: Decimal | None, target: Decimal, direction: str) -> Decimal | None:
    if actual is None:
        return None
    if direction == "down":
        return None if actual == 0 else target / actual  # beating a "down" goal to 0: unbounded
    if target == 0:
        return None
    return actual / target


@dataclass(frozen=True)
class Evaluation:
    as_of: dt.date
    actual: Decimal | None
    attainment: Decimal | None
    expected: Decimal
    projection: Decimal | None
    projection_run_rate: Decimal | None
    status: str
    rule: str
    score: Decimal | None
    stretch_attainment: Decimal | None
    elapsed_days: int
    period_days: int

    def figures(self, places: int = 2) -> dict[str, Any]:
        """Display figures: attainment and pace to 4 decimals, projections to ``places``."""
        return {
            "actual": self.actual,
            "attainment": quantize(self.attainment, 4),
            "expected_attainment": quantize(self.expected, 4),
            "projection": quantize(self.projection, places),
            "projection_run_rate": quantize(self.projection_run_rate, places),
            "status": self.status,
            "status_rule": self.rule,
            "stretch_attainment": quantize(self.stretch_attainment, 4),
            "elapsed_days": self.elapsed_days,
            "period_days": self.period_days,
        }


def _fmt(d: Decimal | None) -> str:
    q = quantize(d, 4)
    return "–" if q is None else format(q, "f")


def status_of(*, actual: Decimal | None, target: Decimal, expected: Decimal, direction: str,
              cumulative: bool, started: bool, th: Thresholds) -> tuple[str, str, Decimal | None]:
    """(status, the rule applied with its figures, score)."""
    if not started:
        return "not_started", "the period has not started", None
    if actual is None:
        return "no_data", "the KPI is undefined so far (no deal to compute it from)", None
    if direction == "down":
        allowed = target * expected if cumulative else target
        if actual == 0:
            score = None
            status = "on_track"
            detail = f"actual 0 ≤ allowed {_fmt(allowed)}"
        else:
            score = allowed / actual
            status = _band(score, th)
            detail = (f"score = allowed {_fmt(allowed)} / actual {_fmt(actual)} = {_fmt(score)}"
                      + (f" (allowed = target × pace {_fmt(expected)})" if cumulative else ""))
    else:
        if target == 0:
            return "on_track", "on_track: the target is 0 (nothing to attain)", None
        attainment = actual / target
        if expected == 0:
            return "not_started", "the period has not started", None
        score = attainment / expected
        status = _band(score, th)
        detail = (f"score = attainment {_fmt(attainment)} / pace {_fmt(expected)} "
                  f"= {_fmt(score)}")
    bands = (f"on_track ≥ {th.on_track}, at_risk ≥ {th.at_risk}, else off_track")
    return status, f"{status}: {detail}; {bands}", score


def _band(score: Decimal, th: Thresholds) -> str:
    if score >= th.on_track:
        return "on_track"
    if score >= th.at_risk:
        return "at_risk"
    return "off_track"


def evaluate(*, period: Period, as_of: dt.date, target: Decimal, stretch: Decimal | None,
             direction: str, cumulative: bool, actual: Decimal | None,
             trailing_actual: Decimal | None, trailing_days: int,
             seasonal_weights: Sequence[tuple[Period, Decimal]] | None = None,
             th: Thresholds | None = None) -> Evaluation:
    """Everything about a goal at ``as_of`` from its actual(s)."""
    th = th or Thresholds()
    elapsed = period.elapsed_days(as_of)
    started = elapsed > 0
    pace: Decimal | None = None
    if cumulative:
        if seasonal_weights is not None:
            pace = seasonal_pace(period, as_of, seasonal_weights)
        expected = pace if pace is not None else linear_pace(period, as_of)
    else:
        expected = ONE if started else ZERO
    attainment = attainment_of(actual, target, direction)
    stretch_att = attainment_of(actual, stretch, direction) if stretch is not None else None
    status, rule, score = status_of(actual=actual, target=target, expected=expected,
                                    direction=direction, cumulative=cumulative, started=started,
                                    th=th)
    projection: Decimal | None
    run_rate: Decimal | None
    remaining = period.days - elapsed
    if cumulative:
        if actual is None or expected == 0:
            projection = None
        elif pace is None:  # linear: actual × period days ÷ elapsed days (one exact division)
            projection = actual * Decimal(period.days) / Decimal(elapsed)
        else:
            projection = actual / expected
        if trailing_actual is None or trailing_days <= 0:
            run_rate = None
        else:
            run_rate = (actual or ZERO) + trailing_actual * Decimal(remaining) / Decimal(trailing_days)
    else:
        projection = actual
        run_rate = trailing_actual
    return Evaluation(as_of=as_of, actual=actual, attainment=attainment, expected=expected,
                      projection=projection, projection_run_rate=run_rate, status=status,
                      rule=rule, score=score, stretch_attainment=stretch_att,
                      elapsed_days=elapsed, period_days=period.days)


def summarize(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    out = {s: 0 for s in STATUSES}
    for r in rows:
        out[str(r.get("status"))] = out.get(str(r.get("status")), 0) + 1
    return out
