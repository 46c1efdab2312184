"""SMART validation of a goal spec: *specific* (one registered KPI, an owner that exists, a
registered goal type), *measurable* (an absolute target or a growth over a baseline period's
actual), *time-bound* (a period), a stretch beyond the target and a cascade that splits
downwards. Vague goals are rejected with a message naming the missing part.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from attain.core import Dimensions, PeriodMetric
from pydantic import ValidationError

from .model import (
    OWNER_HELP,
    Aggregation,
    AnyMetric,
    CascadeSpec,
    Direction,
    Goal,
    GoalError,
    GoalSpec,
    GoalType,
    Owner,
    OwnerKind,
    StretchSpec,
    aggregation_of,
    direction_of,
    known_owners,
    parse_decimal,
    parse_owner,
    quantum_of,
    slugify,
)
from .periods import PERIOD_HELP, Period, PeriodError, parse_period


@dataclass
class ValidationContext:
    """What SMART validation needs to know about the tenant."""

    metrics: Mapping[str, AnyMetric]
    goal_types: Mapping[str, GoalType]
    dims: Dimensions
    deal_owners: set[str]
    #: actual(metric, owner, period, kind) → value or None (for growth baselines)
    actual: Callable[[str, Owner, Period, str], Decimal | None]
    notes: list[str] = field(default_factory=list)


def _pydantic_problems(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(x) for x in err.get("loc", ()))
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            msg = "unknown field (check the spelling)"
        out.append(f"{loc}: {msg}" if loc else msg)
    return out


def _target_spec(raw: Any) -> tuple[Decimal | None, Decimal | None, Any]:
    """(absolute, growth, baseline) from a target value; raises ValueError when not a number."""
    if isinstance(raw, Mapping):
        extra = set(raw) - {"growth", "baseline"}
        if extra:
            raise ValueError(f"target has unknown keys {sorted(extra)}; use growth and baseline")
        if raw.get("growth") is None:
            raise ValueError("target mapping needs growth, e.g. {growth: 0.10, baseline: \"2016\"}")
        return None, parse_decimal(raw["growth"], "target growth"), raw.get("baseline")
    if isinstance(raw, str) and raw.strip().endswith("%"):
        return None, parse_decimal(raw, "target growth"), None
    return parse_decimal(raw, "target"), None, None


@dataclass
class _Checked:
    """What the SMART checks found so far: the problems and the parts that are valid."""

    spec: GoalSpec
    ctx: ValidationContext
    problems: list[str] = field(default_factory=list)
    metric: AnyMetric | None = None
    owner: Owner | None = None
    period: Period | None = None
    target: Decimal | None = None
    basis: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    stretch: Decimal | None = None
    reward: bool = False

    @property
    def direction(self) -> Direction:
        return self.spec.direction or (direction_of(self.metric) if self.metric else "up")

    @property
    def aggregation(self) -> Aggregation:
        return self.spec.aggregation or (aggregation_of(self.metric) if self.metric else "cumulative")


def _check_specific(c: _Checked) -> None:
    """S: one registered KPI, an owner that exists, a registered goal type."""
    spec, ctx = c.spec, c.ctx
    if not spec.metric:
        c.problems.append("not specific: no metric; name one KPI: " + ", ".join(sorted(ctx.metrics)))
    elif spec.metric not in ctx.metrics:
        c.problems.append(f"not specific: unknown metric {spec.metric!r}; registered KPIs: "
                          + ", ".join(sorted(ctx.metrics)))
    else:
        c.metric = ctx.metrics[spec.metric]
    if spec.owner is None or not spec.owner.strip():
        c.problems.append(f"not specific: no owner; say whose goal it is: {OWNER_HELP}")
    else:
        try:
            c.owner = parse_owner(spec.owner)
        except ValueError as exc:
            c.problems.append(f"not specific: {exc}")
        owner = c.owner
        if owner is not None and owner.kind != "company":
            known = known_owners(owner.kind, ctx.dims, ctx.deal_owners)
            if owner.name not in known:
                c.problems.append(
                    f"not specific: no {owner.kind} named {owner.name!r}"
                    + (f" (known: {', '.join(known[:12])}{' …' if len(known) > 12 else ''})"
                       if known else " (the roster and the deals name none)"))
                c.owner = None
    if isinstance(c.metric, PeriodMetric) and c.owner is not None and c.owner.kind != "company":
        c.problems.append(f"not specific: {c.metric.name} is a company figure (state across "
                          "events, e.g. an account's first won deal): set the owner to company")
    if spec.kind not in ctx.goal_types:
        c.problems.append(f"kind: unknown goal type {spec.kind!r}; registered: "
                          + ", ".join(sorted(ctx.goal_types)))


def _check_time_bound(c: _Checked) -> None:
    """T: a period."""
    if c.spec.period is None or c.spec.period == "":
        c.problems.append(f"not time-bound: no period; use {PERIOD_HELP}")
        return
    try:
        c.period = parse_period(c.spec.period)
    except PeriodError as exc:
        c.problems.append(f"not time-bound: {exc}")


def _check_measurable(c: _Checked) -> None:
    """M: an attainable absolute target, or a growth over a baseline that has figures."""
    spec = c.spec
    if spec.target is None or spec.target == "":
        c.problems.append("not measurable: no target; give a number (e.g. 1000000) or a growth "
                          "over a baseline period (e.g. {growth: 0.10, baseline: \"2016\"})")
        return
    try:
        absolute, growth, baseline_raw = _target_spec(spec.target)
    except ValueError as exc:
        c.problems.append(f"not measurable: {exc}")
        return
    if absolute is not None:
        if absolute < 0:
            c.problems.append(f"not measurable: target {absolute} is negative")
        elif absolute == 0 and c.direction == "up":
            c.problems.append("not measurable: a target of 0 cannot be attained more or less; "
                              "give a target above 0")
        else:
            c.target = absolute
    elif growth is not None:
        if growth <= -1:
            c.problems.append(f"not measurable: growth {growth} would make the target 0 or less")
        elif c.metric is not None and c.owner is not None and c.period is not None:
            _growth_target(c, growth, baseline_raw)


def _growth_target(c: _Checked, growth: Decimal, baseline_raw: Any) -> None:
    metric, owner, period = c.metric, c.owner, c.period
    assert metric is not None and owner is not None and period is not None
    try:
        baseline = (parse_period(baseline_raw) if baseline_raw not in (None, "")
                    else period.shift_years(-1))
    except PeriodError as exc:
        c.problems.append(f"not measurable: baseline {exc}")
        return
    base = c.ctx.actual(metric.name, owner, baseline, c.spec.kind)
    if base is None or base == 0:
        c.problems.append(
            f"not measurable: the baseline {baseline} has no {metric.name} for "
            f"{owner} (no deals attributed to {baseline.start}..{baseline.end}); "
            "give an absolute target or another baseline")
        return
    target = base * (1 + growth)
    if c.aggregation == "cumulative":
        target = target.quantize(quantum_of(metric))
    else:
        target = target.quantize(Decimal("0.0001")).normalize()
    c.target = target
    c.basis = {"growth": growth, "baseline": baseline.as_json(), "baseline_actual": base}
    sign = "+" if growth >= 0 else "−"
    c.notes.append(f"target = {metric.name} of {owner} in {baseline} ({base}) "
                   f"{sign}{(abs(growth) * 100).normalize():f}% = {target}")


def _check_stretch(c: _Checked) -> None:
    """A stretch target beyond the target, in the metric's direction."""
    spec = c.spec
    c.reward = bool(spec.stretch_reward)
    if spec.stretch in (None, ""):
        return
    raw_stretch = spec.stretch
    if isinstance(raw_stretch, Mapping):
        try:
            st = StretchSpec.model_validate(dict(raw_stretch))
        except ValidationError as exc:
            c.problems.extend(f"stretch.{p}" for p in _pydantic_problems(exc))
            st = None
        if st is not None:
            raw_stretch, c.reward = st.target, st.reward or c.reward
    try:
        c.stretch = parse_decimal(raw_stretch, "stretch") if raw_stretch is not None else None
    except ValueError as exc:
        c.problems.append(str(exc))
    stretch, target = c.stretch, c.target
    if stretch is not None and target is not None:
        if c.direction == "up" and stretch < target:
            c.problems.append(f"stretch {stretch} is below the target {target}")
        if c.direction == "down" and stretch > target:
            c.problems.append(f"stretch {stretch} is above the target {target} "
                              f"({spec.metric}: lower is better)")


def _check_cascade(c: _Checked) -> CascadeSpec | None:
    """A cascade that splits the period and the owner downwards."""
    spec = c.spec
    cascade = spec.cascade if spec.cascade is not None and not spec.cascade.is_empty() else None
    if cascade is None:
        return None
    if c.period is not None and cascade.periods is not None:
        if c.period.kind == "month" and cascade.periods == "month":
            c.problems.append("cascade: a month cannot be split into months")
        if c.period.kind == "quarter" and cascade.periods == "quarter":
            c.problems.append("cascade: a quarter cannot be split into quarters")
    if isinstance(c.metric, PeriodMetric) and cascade.owners:
        c.problems.append(f"cascade: {c.metric.name} is a company figure; it cannot be split "
                          "over teams or reps (cascade periods only)")
    elif c.owner is not None:
        c.problems.extend(cascade_path_problems(c.owner.kind, cascade.owners))
    if cascade.period_method == "seasonal" and cascade.periods is None:
        c.problems.append("cascade: period_method seasonal needs periods: quarter | month")
    return cascade


def validate_goal(raw: Mapping[str, Any] | GoalSpec, ctx: ValidationContext,
                  goal_id: str | None = None) -> Goal:
    """Validate a goal spec; raises :class:`GoalError` listing every problem at once (in the
    order of the checks: specific, time-bound, measurable, stretch, cascade)."""
    gid = goal_id or (raw.id if isinstance(raw, GoalSpec) else
                      (str(raw.get("id")) if raw.get("id") else None))
    try:
        spec = raw if isinstance(raw, GoalSpec) else GoalSpec.model_validate(dict(raw))
    except ValidationError as exc:
        raise GoalError(gid, _pydantic_problems(exc)) from None
    c = _Checked(spec, ctx)
    _check_specific(c)
    _check_time_bound(c)
    _check_measurable(c)
    _check_stretch(c)
    cascade = _check_cascade(c)
    if c.problems:
        raise GoalError(gid, c.problems)
    metric, owner, period, target = c.metric, c.owner, c.period, c.target
    assert metric is not None and owner is not None and period is not None and target is not None
    goal_id_final = gid or f"{slugify(metric.name)}-{owner.slug()}-{slugify(period.label)}"
    return Goal(id=goal_id_final, description=spec.description, metric=metric.name,
                owner=str(owner), period=period, target=target, target_basis=c.basis,
                stretch=c.stretch, stretch_reward=c.reward, kind=spec.kind, direction=c.direction,
                aggregation=c.aggregation, pacing=spec.pacing, cascade=cascade, notes=c.notes)


_RANK = {"company": 0, "region": 1, "manager": 2, "rep": 3}


def cascade_path_problems(start: OwnerKind, path: Iterable[str]) -> list[str]:
    """Owner levels must go down: company → region → manager → rep (levels may be skipped,
    but a region and a manager are parallel groupings of reps: manager below region is allowed
    only when the roster nests them, which is checked when the cascade is built)."""
    out = []
    prev = start
    for level in path:
        if level not in _RANK:
            out.append(f"cascade: unknown owner level {level!r}; use region, manager or rep")
            continue
        if _RANK[level] <= _RANK[prev]:
            out.append(f"cascade: cannot cascade from {prev} to {level}; "
                       "levels go company → region → manager → rep")
        prev = level  # type: ignore[assignment]
    return out
