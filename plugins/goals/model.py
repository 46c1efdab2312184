"""The goal model: owners, goal types, the input spec and SMART validation.

A goal is *specific* (one registered KPI, one owner), *measurable* (an absolute target or a
growth over a baseline period's actual), *time-bound* (a period). Vague goals are rejected with a
message naming the missing part; *achievable* is only warned about (see
:func:`attain.plugins.goals.service.GoalService.achievability`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypeAlias

from attain.core import Dimensions, Metric, PeriodMetric, utc_day
from attain.core.models import DealEvent
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .periods import PERIOD_HELP, Period, PeriodError, SplitKind, parse_period

OwnerKind = Literal["company", "region", "manager", "rep"]
OWNER_KINDS: tuple[OwnerKind, ...] = ("company", "region", "manager", "rep")
OWNER_HELP = "company | region:NAME | manager:NAME | rep:NAME"
Direction = Literal["up", "down"]
Aggregation = Literal["cumulative", "level"]
Pacing = Literal["linear", "seasonal"]
OwnerMethod = Literal["equal", "capacity", "history"]
PeriodMethod = Literal["equal", "days", "seasonal"]

#: KPIs where less is better when a goal does not say (``direction: up|down`` overrides).
LOWER_IS_BETTER = {"lost_deals", "avg_cycle_days", "leads_disqualified", "avg_first_response_hours",
                   # the kpis plugin's: churn, what a customer costs, reps leaving
                   "churned_customers", "churned_revenue", "customers_lost", "churn_rate", "cac",
                   "rep_turnover_rate", "reps_left"}
#: what a goal can measure: an additive KPI or a period metric (a company figure)
AnyMetric: TypeAlias = Metric | PeriodMetric


class GoalError(ValueError):
    """A goal that cannot be accepted; ``problems`` lists every reason."""

    def __init__(self, goal_id: str | None, problems: list[str]) -> None:
        self.goal_id = goal_id
        self.problems = problems
        who = f"goal {goal_id!r}" if goal_id else "goal"
        super().__init__(f"{who} rejected: " + "; ".join(problems))


# ---------------------------------------------------------------------------------------------
# Owners


@dataclass(frozen=True)
class Owner:
    kind: OwnerKind
    name: str | None = None

    def __str__(self) -> str:
        return "company" if self.kind == "company" else f"{self.kind}:{self.name}"

    def matches(self, rep: str, dims: Dimensions) -> bool:
        """Whether a deal owned by ``rep`` counts for this owner (roster looked up now)."""
        if self.kind == "company":
            return True
        if self.kind == "rep":
            return rep == self.name
        r = dims.reps.get(rep)
        if r is None:
            return False
        return (r.region if self.kind == "region" else r.manager) == self.name

    def slug(self) -> str:
        return "company" if self.kind == "company" else f"{self.kind}-{slugify(self.name or '')}"


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-") or "x"


def parse_owner(value: Any) -> Owner:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError(f"no owner; use {OWNER_HELP}")
    text = str(value).strip()
    if text.casefold() == "company":
        return Owner("company")
    kind, sep, name = text.partition(":")
    kind = kind.strip().casefold()
    if not sep or kind not in OWNER_KINDS or kind == "company" or not name.strip():
        raise ValueError(f"owner {text!r} is not understood; use {OWNER_HELP}")
    return Owner(kind, name.strip())  # type: ignore[arg-type]


def known_owners(kind: OwnerKind, dims: Dimensions, deal_owners: Iterable[str]) -> list[str]:
    if kind == "rep":
        return sorted(set(dims.reps) | set(deal_owners))
    if kind == "region":
        return sorted({r.region for r in dims.reps.values() if r.region})
    if kind == "manager":
        return sorted({r.manager for r in dims.reps.values() if r.manager})
    return []


def members(owner: Owner, dims: Dimensions, deal_owners: Iterable[str]) -> list[str]:
    """The reps an owner stands for (roster reps; a company also has unrostered deal owners)."""
    everyone = set(dims.reps) | set(deal_owners)
    return sorted(r for r in everyone if owner.matches(r, dims))


# ---------------------------------------------------------------------------------------------
# Goal types (registered through ``attain_register_goal_types``)


@dataclass(frozen=True)
class GoalType:
    """What a goal's KPI is measured over. ``date_of(deal)`` attributes a deal to a day; the
    goal's actual covers the deals whose day falls within the period. Facts (lead and activity
    events, counted by KPIs such as ``calls`` or ``mqls``) are always attributed to the date of
    their ``occurred_at``, whatever the goal type (see :func:`event_day`)."""

    name: str
    description: str
    date_of: Callable[[DealEvent], dt.date | None]
    attribution: str = ""


def event_day(date_of: Callable[[DealEvent], dt.date | None], event: Any) -> dt.date | None:
    """The day an event counts on: ``date_of(deal)`` for a deal snapshot, the date of
    ``occurred_at`` (its UTC day) for a fact (lead or activity event)."""
    if isinstance(event, DealEvent):
        return date_of(event)
    return utc_day(event.occurred_at)


def takes_facts(metric: AnyMetric) -> bool:
    """Whether a KPI counts facts (lead / activity events) rather than deals (a period metric
    is dated by the deals)."""
    return not isinstance(metric, PeriodMetric) and any(t != "deal" for t in metric.events)


def _closed_on(deal: DealEvent) -> dt.date | None:
    return deal.closed_on


def _engaged_on(deal: DealEvent) -> dt.date | None:
    return deal.engaged_on


OUTCOME = GoalType(
    "outcome", "an outcome KPI (revenue, won deals, win rate …) attributed to the day the deal "
    "closed", _closed_on, "closed_on")
ACTIVITY = GoalType(
    "activity", "an activity / leading-indicator KPI attributed to the day the rep engaged the "
    "deal (e.g. pipeline created)", _engaged_on, "engaged_on")


# ---------------------------------------------------------------------------------------------
# Input


def parse_decimal(value: Any, what: str) -> Decimal:
    """A number from YAML/JSON/CLI text: ints, exact decimal text, floats via their repr,
    ``"1,000,000"``, ``"10%"`` (→ 0.10), ``"1.5M"``/``"250k"``."""
    if isinstance(value, bool):
        raise ValueError(f"{what} {value!r} is not a number")
    if isinstance(value, (Decimal, int, float)):
        d = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
        if not d.is_finite():  # YAML's .nan / .inf / -.inf
            raise ValueError(f"{what} {_yaml_text(d)} is not a number")
        return d
    text = str(value).strip().replace(",", "").replace("_", "")
    scale = Decimal(1)
    if text.endswith("%"):
        text, scale = text[:-1], Decimal("0.01")
    elif text[-1:].lower() in ("k", "m"):
        text, scale = text[:-1], Decimal(1000 if text[-1].lower() == "k" else 1_000_000)
    try:
        d = Decimal(text.lstrip("+"))
    except InvalidOperation:
        raise ValueError(f"{what} {value!r} is not a number") from None
    if not d.is_finite():
        raise ValueError(f"{what} {value!r} is not a number")
    return d * scale


def _yaml_text(d: Decimal) -> str:
    """A non-finite number as YAML writes it: ``.nan``, ``.inf``, ``-.inf``."""
    return ".nan" if d.is_nan() else ("-" if d.is_signed() else "") + ".inf"


class CascadeSpec(BaseModel):
    """How a goal is broken down: first into sub-periods, then down the owner hierarchy."""

    model_config = ConfigDict(extra="forbid")

    periods: SplitKind | None = Field(default=None, description="quarter | month")
    owners: list[Literal["region", "manager", "rep"]] = Field(
        default_factory=list, description="owner levels below the goal's owner, e.g. [region, rep]")
    method: OwnerMethod = Field(default="equal", description="how owners share: equal | capacity | history")
    period_method: PeriodMethod = Field(
        default="equal", description="how sub-periods share: equal | days | seasonal")
    ramp_months: int = Field(default=3, ge=0, le=24, description="ramp of new reps (capacity)")

    @field_validator("owners", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        if v is None:
            return []
        if isinstance(v, str):
            return [p.strip() for p in re.split(r"[,>\s]+", v) if p.strip()]
        return v

    def is_empty(self) -> bool:
        return self.periods is None and not self.owners


class StretchSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: Any
    reward: bool = False


class GoalSpec(BaseModel):
    """A goal as written in plan.yaml or given to ``attain goals add`` (not yet validated)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str | None = Field(default=None, max_length=200)
    description: str | None = None
    metric: str | None = None
    owner: str | None = None
    period: Any = None
    target: Any = None
    stretch: Any = None
    stretch_reward: bool | None = None
    kind: str = "outcome"
    direction: Direction | None = None
    aggregation: Aggregation | None = None
    pacing: Pacing = "linear"
    cascade: CascadeSpec | None = None

    @field_validator("id")
    @classmethod
    def _id_chars(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", v):
            raise ValueError("use letters, digits, '.', '_' and '-' (a '/' separates cascade levels)")
        return v

    @field_validator("cascade", mode="before")
    @classmethod
    def _cascade_none(cls, v: Any) -> Any:
        return None if v in ({}, "", False) else v


# ---------------------------------------------------------------------------------------------
# The stored goal


class Goal(BaseModel):
    """A validated goal with its resolved, absolute target."""

    model_config = ConfigDict(extra="forbid")

    id: str
    parent: str | None = None
    description: str | None = None
    metric: str
    owner: str
    period: Period
    target: Decimal
    target_basis: dict[str, Any] | None = Field(
        default=None, description="how a relative target was resolved (growth, baseline, actual)")
    stretch: Decimal | None = None
    stretch_reward: bool = False
    kind: str = "outcome"
    direction: Direction = "up"
    aggregation: Aggregation = "cumulative"
    pacing: Pacing = "linear"
    cascade: CascadeSpec | None = None
    pinned: bool = False
    notes: list[str] = Field(default_factory=list)

    @field_validator("target_basis")
    @classmethod
    def _basis_numbers(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        """Growth and baseline actual are exact numbers again after a JSON round trip."""
        if v is None:
            return v
        return {k: (Decimal(str(x)) if k in ("growth", "baseline_actual") and x is not None
                    else x) for k, x in v.items()}

    @property
    def owner_ref(self) -> Owner:
        return parse_owner(self.owner)

    @property
    def depth(self) -> int:
        return self.id.count("/")

    def spec(self) -> dict[str, Any]:
        """The goal back in plan.yaml form (relative targets keep their growth form)."""
        out: dict[str, Any] = {"id": self.id, "metric": self.metric, "owner": self.owner,
                               "period": self.period.as_json()}
        if self.target_basis and "growth" in self.target_basis:
            out["target"] = {"growth": self.target_basis["growth"],
                             "baseline": self.target_basis["baseline"]}
        else:
            out["target"] = self.target
        if self.stretch is not None:
            out["stretch"] = ({"target": self.stretch, "reward": True} if self.stretch_reward
                              else self.stretch)
        if self.kind != "outcome":
            out["kind"] = self.kind
        if self.pacing != "linear":
            out["pacing"] = self.pacing
        if self.cascade is not None:
            out["cascade"] = self.cascade.model_dump(exclude_defaults=True)
        return out


def aggregation_of(metric: AnyMetric) -> Aggregation:
    """Money and count KPIs add up over time and owners; ratios, averages and days do not; a
    period metric adds up when it says so (new customers, not headcount)."""
    if isinstance(metric, PeriodMetric):
        return "cumulative" if metric.additive_over_time else "level"
    return "cumulative" if metric.unit in ("money", "count") else "level"


def direction_of(metric: AnyMetric) -> Direction:
    return "down" if metric.name in LOWER_IS_BETTER or metric.unit == "days" else "up"


def quantum_of(metric: AnyMetric | None) -> Decimal:
    """The unit targets are allocated in: cents for money, whole units for counts."""
    if metric is not None and metric.unit == "count":
        return Decimal(1)
    return Decimal("0.01")


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
