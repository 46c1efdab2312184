"""The goal model: owners, goal types, the input spec and the goal (SMART validation is
:mod:`.smart`; *achievable* is only warned about, see
:func:`attain.plugins.goals.service.GoalService.achievability`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypeAlias

from attain.core import Dimensions, Metric, PeriodMetric, utc_day
from attain.core.models import DealEvent
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .periods import Period, SplitKind

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
