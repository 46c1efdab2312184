"""Goals of one tenant: validation with the tenant's data, storage, progress and status
transitions (cascades in :mod:`.cascade`, re-balancing in :mod:`.editing`). Figures attributed
to the KPI day (closed_on, a fact's UTC day) come from :meth:`attain.core.engine.Engine.kpis`
(the KPI roll-ups); others (a goal type attributing deals to another day) from the core's
:func:`attain.core.kpi.kpi_rows` over a snapshot of the deals (:mod:`.snapshot`)."""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from attain.core import Dimensions, Engine, PeriodMetric, quantize
from attain.core.models import ActivityEvent, DealEvent, LeadEvent

from .achievability import achievability_warnings, history_periods
from .cascade import CascadeBuilder
from .editing import TargetEditor
from .hookspecs import KIND as GOAL_TYPES
from .model import (
    ACTIVITY,
    OUTCOME,
    AnyMetric,
    CascadeSpec,
    Goal,
    GoalError,
    GoalSpec,
    GoalType,
    Owner,
    event_day,
    quantum_of,
    takes_facts,
)
from .periods import Period, custom
from .settings import Settings, load_settings
from .smart import ValidationContext, validate_goal
from .snapshot import Snapshot
from .storage import GoalRepo
from .tracking import Evaluation, evaluate

log = logging.getLogger("attain.goals")

ZERO = Decimal(0)
#: the ``attain_notify`` kind of every goal status change (docs/goals.md "Notifications")
STATUS_CHANGED = "goal.status_changed"


def builtin_goal_types() -> dict[str, GoalType]:
    return {OUTCOME.name: OUTCOME, ACTIVITY.name: ACTIVITY}


@dataclass
class ApplyResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    children: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "children": self.children, "warnings": self.warnings, "notes": self.notes}


class GoalsRejected(ValueError):
    """One or more goals of a plan failed validation (nothing was saved)."""

    def __init__(self, errors: list[GoalError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class GoalService:
    """Goals of one tenant on one engine."""

    def __init__(self, engine: Engine, tenant: str, settings: Settings | None = None,
                 ) -> None:
        self.engine = engine
        self.tenant = tenant
        self.repo = GoalRepo(engine.store.engine)
        self.view = Snapshot(engine, tenant)
        self._settings = settings
        self._cache: dict[tuple[Any, ...], Any] = {}

    # -- context ------------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.repo.config(self.tenant))
        return self._settings

    def refresh(self) -> None:
        """Forget the cached deals, roster and figures (after new events)."""
        self.view = Snapshot(self.engine, self.tenant)
        self._cache.clear()

    def metrics(self) -> dict[str, AnyMetric]:
        """The tenant's KPIs a goal can name: the additive metrics and the period metrics
        (company figures from state across events: company goals only)."""
        key = ("metrics",)
        if key not in self._cache:
            found: list[AnyMetric] = [*self.engine.metrics(self.tenant),
                                      *self.engine.period_metrics(self.tenant)]
            self._cache[key] = {m.name: m for m in found}
        return self._cache[key]  # type: ignore[no-any-return]

    def goal_types(self) -> dict[str, GoalType]:
        off = self.engine.disabled(self.tenant)
        reg = self.engine.plugins.registry(GOAL_TYPES)
        out = {}
        for name, gt in reg.items():
            owner = self.engine.plugins.owner(GOAL_TYPES, name)
            if owner is not None and owner.plugin in off:
                continue
            if isinstance(gt, GoalType):
                out[name] = gt
            elif callable(getattr(gt, "date_of", None)):
                out[name] = GoalType(name, str(getattr(gt, "description", "")), gt.date_of,
                                     str(getattr(gt, "attribution", "")))
        return out or builtin_goal_types()

    def dims(self) -> Dimensions:
        return self.view.dimensions()

    def deal_owners(self) -> set[str]:
        key = ("owners",)
        if key not in self._cache:
            self._cache[key] = {d.owner for d in self.view.all_deals()}
        return self._cache[key]  # type: ignore[no-any-return]

    def owners(self) -> set[str]:
        """Reps that own a deal or a fact (lead / activity event)."""
        key = ("all-owners",)
        if key not in self._cache:
            self._cache[key] = self.deal_owners() | {
                o for f in self.view.all_facts() if (o := getattr(f, "owner", None))}
        return self._cache[key]  # type: ignore[no-any-return]

    def _date_of(self, kind: str) -> Callable[[DealEvent], dt.date | None]:
        gt = self.goal_types().get(kind) or OUTCOME
        return gt.date_of

    def quantum(self, goal: Goal) -> Decimal:
        """The smallest step of the goal's metric (a count's 1, money's 0.01)."""
        return quantum_of(self.metrics().get(goal.metric))

    def counts_facts(self, metric: str | None) -> bool:
        m = self.metrics().get(metric) if metric is not None else None
        return m is not None and takes_facts(m)

    def days(self, kind: str, metric: str | None) -> list[dt.date]:
        """The days the data of ``metric`` is attributed to: the facts' UTC days for a
        KPI that counts facts, the deals' days (per the goal type) otherwise."""
        if self.counts_facts(metric):
            return self.view.fact_days()
        date_of = self._date_of(kind)
        return [d for d in (date_of(x) for x in self.view.all_deals()) if d is not None]

    def first_day(self, kind: str, metric: str | None = None) -> dt.date | None:
        key = ("first", kind, self.counts_facts(metric))
        if key not in self._cache:
            days = self.days(kind, metric)
            self._cache[key] = min(days) if days else None
        return self._cache[key]  # type: ignore[no-any-return]

    # -- actuals ------------------------------------------------------------------------------

    def grouped(self, metric: str, owner: Owner, period: Period, kind: str,
                grouping: str = "all") -> dict[str | None, Decimal | None]:
        """``metric`` over the deals (and facts) attributed to ``period`` whose owner matches,
        per group. Facts count on the UTC day of their occurred_at."""
        key = ("grouped", metric, str(owner), period.start, period.end, kind, grouping)
        if key in self._cache:
            return self._cache[key]  # type: ignore[no-any-return]
        m = self.metrics().get(metric)
        if m is None:
            raise GoalError(None, [f"metric {metric!r} is not registered (or its plugin is "
                                   "disabled for this tenant)"])
        dims = self.dims()
        date_of = self._date_of(kind)
        if isinstance(m, PeriodMetric) or date_of is OUTCOME.date_of or "deal" not in m.events:
            # Attributed to the KPI day (closed_on; a fact's UTC day): the engine's roll-ups of
            # the owner's reps over the period's tiles answer it (a period metric: the engine
            # computes it from the tenant's state, for the company).
            fast = self._from_rollups(metric, owner, period, grouping, dims)
            self._cache[key] = fast
            return fast
        start, end = period.start, period.end

        def where(event: DealEvent | LeadEvent | ActivityEvent) -> bool:
            day = event_day(date_of, event)
            return (day is not None and start <= day <= end
                    and owner.matches(event.owner or "", dims))  # a lead may have no owner

        rows = self.view.kpis_where(grouping, where, m, date_of, start, end)
        out: dict[str | None, Decimal | None] = {}
        for r in rows:
            v = r.get(metric)
            k = r["key"]
            out[None if k is None else str(k)] = v if isinstance(v, Decimal) or v is None else Decimal(str(v))
        self._cache[key] = out
        return out

    def _from_rollups(self, metric: str, owner: Owner, period: Period, grouping: str,
                      dims: Dimensions) -> dict[str | None, Decimal | None]:
        """``metric`` per group from :meth:`Engine.kpis` (the KPI roll-ups of the owner's reps)."""
        reps = None if owner.kind == "company" else (
            [owner.name or ""] if owner.kind == "rep" else [r for r in dims.reps if owner.matches(r, dims)])
        rows = self.engine.kpis(self.tenant, grouping, period=period, metrics=[metric], owners=reps)
        out: dict[str | None, Decimal | None] = {}
        for r in rows:
            v = r.get(metric)
            k = r["key"]
            out[None if k is None else str(k)] = v if isinstance(v, Decimal) or v is None else Decimal(str(v))
        return out

    def empty_value(self, metric: str) -> Decimal | None:
        m = self.metrics()[metric]
        if isinstance(m, PeriodMetric):  # computed from the tenant's state, never from sums
            return None
        v = m.compute({})
        return None if v is None else Decimal(v)

    def actual_of(self, metric: str, owner: Owner, period: Period, kind: str) -> Decimal | None:
        rows = self.grouped(metric, owner, period, kind, "all")
        if "all" in rows:
            return rows["all"]
        return self.empty_value(metric)

    def actual(self, goal: Goal, period: Period | None = None) -> Decimal | None:
        return self.actual_of(goal.metric, goal.owner_ref, period or goal.period, goal.kind)

    # -- validation ---------------------------------------------------------------------------

    def context(self) -> ValidationContext:
        return ValidationContext(metrics=self.metrics(), goal_types=self.goal_types(),
                                 dims=self.dims(), deal_owners=self.owners(),
                                 actual=self.actual_of)

    def validate(self, raw: Mapping[str, Any] | GoalSpec) -> tuple[Goal, list[str]]:
        """A validated goal and its achievability warnings (raises GoalError)."""
        goal = validate_goal(raw, self.context())
        return goal, self.achievability(goal)

    def history_periods(self, goal: Goal, limit: int = 60) -> list[Period]:
        """Earlier periods of the same length as the goal's (same calendar kind), newest first,
        back to the first deal (the first fact for a KPI that counts facts)."""
        return history_periods(goal.period, self.first_day(goal.kind, goal.metric), limit)

    def achievability(self, goal: Goal) -> list[str]:
        """Warnings (never errors) when the target is far beyond the owner's best earlier
        period of the same length (:func:`.achievability.achievability_warnings`)."""
        return achievability_warnings(goal, ((p, self.actual(goal, p)) for p in self.history_periods(goal)),
                                      self.settings.achievable_factor)

    # -- storage ------------------------------------------------------------------------------

    def goals(self) -> list[Goal]:
        """Every goal, parents before children (depth-first, in creation order)."""
        return order_tree(self.repo.all(self.tenant))

    def get(self, goal_id: str) -> Goal:
        g = self.repo.get(self.tenant, goal_id)
        if g is None:
            raise KeyError(f"no goal {goal_id!r} in tenant {self.tenant!r}")
        return g

    def subtree(self, goal_id: str) -> list[Goal]:
        return [g for g in self.goals() if g.id == goal_id or g.id.startswith(goal_id + "/")]

    def add(self, raw: Mapping[str, Any] | GoalSpec, replace: bool = False) -> ApplyResult:
        goal, warnings = self.validate(raw)
        if not replace and self.repo.get(self.tenant, goal.id) is not None:
            raise GoalError(goal.id, [f"a goal with id {goal.id!r} exists; use `attain goals "
                                      "apply` to update it or remove it first"])
        return self._store_roots([(goal, warnings)], force=True)

    def apply(self, specs: Sequence[Mapping[str, Any]]) -> ApplyResult:
        """Create or update the goals of a plan: all are validated first, nothing is saved when
        one is rejected. A goal whose definition did not change keeps its cascade (and any
        edited child targets)."""
        errors: list[GoalError] = []
        validated: list[tuple[Goal, list[str]]] = []
        seen: set[str] = set()
        for i, raw in enumerate(specs, start=1):
            if not isinstance(raw, Mapping):
                errors.append(GoalError(f"#{i}", [f"goal #{i} is not a mapping of fields"]))
                continue
            if not raw.get("id"):
                errors.append(GoalError(f"#{i}", ["id: every goal in a plan needs an id"]))
                continue
            try:
                goal, warnings = self.validate(raw)
            except GoalError as exc:
                errors.append(exc)
                continue
            if goal.id in seen:
                errors.append(GoalError(goal.id, [f"id {goal.id!r} is used twice in the plan"]))
                continue
            seen.add(goal.id)
            validated.append((goal, warnings))
        if errors:
            raise GoalsRejected(errors)
        return self._store_roots(validated, force=False)

    def _store_roots(self, items: Sequence[tuple[Goal, list[str]]], force: bool) -> ApplyResult:
        res = ApplyResult()
        to_save: list[Goal] = []
        replace: list[str] = []
        for goal, warnings in items:
            old = self.repo.get(self.tenant, goal.id)
            if warnings:
                res.warnings[goal.id] = warnings
            if old is not None and not force and _same_definition(old, goal):
                res.unchanged.append(goal.id)
                continue
            children = self.build_cascade(goal) if goal.cascade else []
            (res.updated if old is not None else res.created).append(goal.id)
            res.children[goal.id] = len(children)
            notes = list(goal.notes)
            if goal.notes:
                res.notes[goal.id] = notes
            to_save.extend([goal, *children])
            replace.append(goal.id)
        if to_save:
            self.repo.save(self.tenant, to_save, replace_below=replace)
        return res

    def remove(self, goal_id: str) -> int:
        self.get(goal_id)
        return self.repo.delete_tree(self.tenant, goal_id)

    # -- cascades and target edits (.cascade, .editing) ----------------------------------------

    def cascade(self, goal_id: str, spec: CascadeSpec | None = None) -> list[Goal]:
        """(Re)build the cascade of a goal (with ``spec`` or its own) and save it."""
        return CascadeBuilder(self).cascade(goal_id, spec)

    def build_cascade(self, goal: Goal) -> list[Goal]:
        """The children of ``goal``'s cascade (not saved)."""
        return CascadeBuilder(self).build_cascade(goal)

    def set_target(self, goal_id: str, value: Decimal, keep_siblings: bool = False
                   ) -> dict[str, Any]:
        """Change a goal's target (see :meth:`.editing.TargetEditor.set_target`)."""
        return TargetEditor(self).set_target(goal_id, value, keep_siblings)

    # -- tracking -----------------------------------------------------------------------------

    def seasonal_weights(self, goal: Goal) -> list[tuple[Period, Decimal]] | None:
        if goal.pacing != "seasonal" or goal.aggregation != "cumulative":
            return None
        months = goal.period.months()
        weights = [(p, max(self.actual(goal, p.shift_years(-1)) or ZERO, ZERO)) for p in months]
        if sum((w for _, w in weights), ZERO) == 0:
            return None
        return weights

    def evaluate(self, goal: Goal, as_of: dt.date) -> Evaluation:
        cumulative = goal.aggregation == "cumulative"
        upto = goal.period.upto(as_of)
        actual = self.actual(goal, upto) if upto is not None else (
            self.empty_value(goal.metric) if cumulative else None)
        days = self.settings.run_rate_days
        if cumulative:
            window = custom(as_of - dt.timedelta(days=days - 1), as_of)
            trailing = self.actual(goal, window) if as_of < goal.period.end else ZERO
        else:
            end = min(as_of, goal.period.end)
            trailing = (self.actual(goal, custom(max(goal.period.start,
                                                     end - dt.timedelta(days=days - 1)), end))
                        if as_of >= goal.period.start else None)
        return evaluate(period=goal.period, as_of=as_of, target=goal.target, stretch=goal.stretch,
                        direction=goal.direction, cumulative=cumulative, actual=actual,
                        trailing_actual=trailing, trailing_days=days,
                        seasonal_weights=self.seasonal_weights(goal),
                        th=self.settings.thresholds)

    def progress_row(self, goal: Goal, as_of: dt.date) -> dict[str, Any]:
        if goal.metric not in self.metrics():
            return {"id": goal.id, "parent": goal.parent, "owner": goal.owner,
                    "metric": goal.metric, "period": goal.period.as_json(),
                    "target": goal.target, "actual": None, "attainment": None,
                    "expected_attainment": None, "projection": None, "status": "unavailable",
                    "projection_run_rate": None,
                    "status_rule": f"unavailable: KPI {goal.metric} is not registered for "
                                   f"tenant {self.tenant} (its plugin is missing or disabled)",
                    "stretch": goal.stretch, "stretch_reward": goal.stretch_reward,
                    "kind": goal.kind, "direction": goal.direction,
                    "aggregation": goal.aggregation, "pacing": goal.pacing, "as_of": as_of}
        ev = self.evaluate(goal, as_of)
        figures = ev.figures(2 if goal.aggregation == "cumulative" else 4)
        row: dict[str, Any] = {
            "id": goal.id, "parent": goal.parent, "owner": goal.owner, "metric": goal.metric,
            "period": goal.period.as_json(), "target": goal.target,
            "actual": figures.pop("actual"), "attainment": figures.pop("attainment"),
            "expected_attainment": figures.pop("expected_attainment"),
            "projection": figures.pop("projection"), "status": figures.pop("status"),
        }
        row.update(figures)
        row.update({"stretch": goal.stretch, "stretch_reward": goal.stretch_reward,
                    "kind": goal.kind, "direction": goal.direction,
                    "aggregation": goal.aggregation, "pacing": goal.pacing,
                    "as_of": as_of})
        if goal.pacing == "seasonal" and self.seasonal_weights(goal) is None:
            row["pacing"] = "linear (seasonal: no history a year earlier)"
        return row

    def progress(self, as_of: dt.date, goal_id: str | None = None) -> list[dict[str, Any]]:
        goals = self.subtree(goal_id) if goal_id else self.goals()
        if goal_id and not goals:
            raise KeyError(f"no goal {goal_id!r} in tenant {self.tenant!r}")
        return [self.progress_row(g, as_of) for g in goals]

    def check(self, as_of: dt.date, goals: Iterable[Goal] | None = None,
              notify: bool = True) -> list[dict[str, Any]]:
        """Evaluate goals, store their status and notify through ``attain_notify``: every change
        as ``goal.status_changed`` (a live feed: the API's SSE stream) and a change into
        at_risk/off_track as ``goal.at_risk`` / ``goal.off_track`` (alerts: the webhooks).
        The payload of each is the progress row plus ``previous_status`` (``None`` at a goal's
        first evaluation)."""
        goals = list(self.goals() if goals is None else goals)
        previous = self.repo.statuses(self.tenant)
        out = []
        for g in goals:
            row = self.progress_row(g, as_of)
            new, old = row["status"], previous.get(g.id)
            if new == old:
                continue
            self.repo.set_status(self.tenant, g.id, new, as_of, row["status_rule"])
            transition = {**row, "previous_status": old}
            out.append(transition)
            if notify:
                self.notify(STATUS_CHANGED, transition)
                if new in ("at_risk", "off_track"):
                    self.notify(f"goal.{new}", transition)
        return out

    def notify(self, kind: str, payload: dict[str, Any]) -> None:
        self.engine.plugins.notify(self.tenant, kind, payload, self.engine,
                                   self.engine.disabled(self.tenant))

    # -- reporting ----------------------------------------------------------------------------

    def tree_rows(self, goal_id: str) -> list[dict[str, Any]]:
        """The goal and its cascade with, for every node with children, their sum and gap."""
        nodes = self.subtree(goal_id)
        if not nodes:
            raise KeyError(f"no goal {goal_id!r} in tenant {self.tenant!r}")
        kids: dict[str, list[Goal]] = defaultdict(list)
        for n in nodes:
            if n.parent:
                kids[n.parent].append(n)
        base = nodes[0].depth
        rows = []
        for n in nodes:
            row: dict[str, Any] = {"id": n.id, "parent": n.parent, "depth": n.depth - base,
                                   "owner": n.owner, "period": n.period.as_json(),
                                   "metric": n.metric, "target": n.target,
                                   "stretch": n.stretch, "pinned": n.pinned,
                                   "notes": n.notes}
            if kids.get(n.id):
                total = sum((k.target for k in kids[n.id]), ZERO)
                row["children"] = len(kids[n.id])
                if n.aggregation == "cumulative":
                    row["children_sum"] = total
                    row["gap"] = total - n.target
            rows.append(row)
        return rows



def order_tree(goals: Sequence[Goal]) -> list[Goal]:
    """Parents before children, siblings in stored order."""
    by_parent: dict[str | None, list[Goal]] = defaultdict(list)
    ids = {g.id for g in goals}
    for g in goals:
        by_parent[g.parent if g.parent in ids else None].append(g)
    out: list[Goal] = []

    def walk(parent: str | None) -> None:
        for g in by_parent.get(parent, []):
            out.append(g)
            walk(g.id)

    walk(None)
    return out


def _same_definition(a: Goal, b: Goal) -> bool:
    keys = ("metric", "owner", "period", "target", "target_basis", "stretch", "stretch_reward",
            "kind", "direction", "aggregation", "pacing", "cascade", "description")
    da = a.model_dump(mode="json", include=set(keys))
    db = b.model_dump(mode="json", include=set(keys))
    return bool(da == db)


def fmt_money(v: Decimal | None) -> str:
    q = quantize(v, 2)
    return "–" if q is None else f"{q:,.2f}"
