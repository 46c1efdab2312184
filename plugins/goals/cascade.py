"""Cascades: a goal split into periods (equal, by days, seasonal) and owners (equal, by
capacity with ramping new reps, by history), each child's target allocated exactly."""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

from .allocation import allocate
from .model import (
    CascadeSpec,
    Goal,
    GoalError,
    Owner,
    members,
    slugify,
)
from .periods import Period, custom

log = logging.getLogger("attain.goals")

if TYPE_CHECKING:
    from .service import GoalService

ZERO = Decimal(0)


class CascadeBuilder:
    """The cascades of one goal service (:class:`~.service.GoalService` delegates to it)."""

    def __init__(self, svc: GoalService) -> None:
        self.svc = svc

    def cascade(self, goal_id: str, spec: CascadeSpec | None = None) -> list[Goal]:
        """(Re)build the cascade of a goal (with ``spec`` or its own) and save it."""
        goal = self.svc.get(goal_id)
        if spec is not None:
            goal = goal.model_copy(update={"cascade": spec})
        if goal.cascade is None or goal.cascade.is_empty():
            raise GoalError(goal_id, ["cascade: the goal has no cascade spec; give --periods "
                                      "and/or --owners"])
        problems: list[str] = []
        from .smart import cascade_path_problems

        problems += cascade_path_problems(goal.owner_ref.kind, goal.cascade.owners)
        if goal.cascade.periods == "quarter" and goal.period.kind in ("quarter", "month"):
            problems.append(f"cascade: a {goal.period.kind} cannot be split into quarters")
        if goal.cascade.periods == "month" and goal.period.kind == "month":
            problems.append("cascade: a month cannot be split into months")
        if problems:
            raise GoalError(goal_id, problems)
        children = self.build_cascade(goal)
        self.svc.repo.save(self.svc.tenant, [goal, *children], replace_below=[goal.id])
        return [goal, *children]

    def build_cascade(self, goal: Goal) -> list[Goal]:
        spec = goal.cascade
        if spec is None:
            return []
        out: list[Goal] = []
        level: list[Goal] = [goal]
        if spec.periods is not None:
            nxt: list[Goal] = []
            for node in level:
                nxt.extend(self._split_periods(node, spec))
            out.extend(nxt)
            level = nxt
        for owner_level in spec.owners:
            nxt = []
            for node in level:
                nxt.extend(self._split_owners(node, owner_level, spec, goal))
            out.extend(nxt)
            level = nxt
        return out


    def _children_of(self, node: Goal, parts: Sequence[tuple[str, Owner, Period, Fraction, str]]
                     ) -> list[Goal]:
        """Child goals of ``node`` from (suffix, owner, period, weight, note)."""
        cumulative = node.aggregation == "cumulative"
        q = self.svc.quantum(node)
        weights = [w for *_, w, _ in parts]
        if cumulative:
            targets = allocate(node.target, weights, q)
            stretches: list[Decimal | None] = (
                list(allocate(node.stretch, weights, q)) if node.stretch is not None
                else [None] * len(parts))
        else:
            targets = [node.target] * len(parts)
            stretches = [node.stretch] * len(parts)
        kids = []
        for (suffix, owner, period, _, note), t, s in zip(parts, targets, stretches, strict=True):
            kids.append(Goal(
                id=f"{node.id}/{suffix}", parent=node.id, metric=node.metric, owner=str(owner),
                period=period, target=t, stretch=s, stretch_reward=node.stretch_reward,
                kind=node.kind, direction=node.direction, aggregation=node.aggregation,
                pacing=node.pacing, notes=[note] if note else []))
        return kids

    def _split_periods(self, node: Goal, spec: CascadeSpec) -> list[Goal]:
        assert spec.periods is not None
        subs = node.period.split(spec.periods)
        owner = node.owner_ref
        weights: list[Fraction]
        notes: list[str]
        if spec.period_method == "days":
            weights = [Fraction(p.days) for p in subs]
            notes = [f"share by days: {p.days}/{node.period.days}" for p in subs]
        elif spec.period_method == "seasonal":
            last = [self.svc.actual_of(node.metric, owner, p.shift_years(-1), node.kind) or ZERO
                    for p in subs]
            total = sum(last, ZERO)
            if total > 0 and node.aggregation == "cumulative":
                weights = [Fraction(max(v, ZERO)) for v in last]
                notes = [f"seasonal share {v / total:.2%} ({p.shift_years(-1)}: {v})"
                         for p, v in zip(subs, last, strict=True)]
            else:
                weights = [Fraction(1)] * len(subs)
                notes = [f"seasonal: no {node.metric} for {owner} in "
                         f"{node.period.shift_years(-1)}; equal shares"] * len(subs)
        else:
            weights = [Fraction(1)] * len(subs)
            notes = [f"equal share 1/{len(subs)}"] * len(subs)
        parts = [(slugify(p.label) if p.kind == "custom" else p.label, owner, p, w, n)
                 for p, w, n in zip(subs, weights, notes, strict=True)]
        return self._children_of(node, parts)

    def _split_owners(self, node: Goal, level: str, spec: CascadeSpec, root: Goal) -> list[Goal]:
        dims = self.svc.dims()
        owner = node.owner_ref
        reps = members(owner, dims, self.svc.owners() if self.svc.counts_facts(node.metric)
                       else self.svc.deal_owners())
        groups: dict[str, list[str]] = defaultdict(list)
        for r in reps:
            if level == "rep":
                groups[r].append(r)
            else:
                info = dims.reps.get(r)
                key = (info.region if level == "region" else info.manager) if info else None
                if key:
                    groups[key].append(r)
        if not groups:
            raise GoalError(node.id, [f"cascade: {owner} has no {level} to cascade to "
                                      "(load the team roster first)"])
        names = sorted(groups)
        child_owners = [Owner(level, n) for n in names]  # type: ignore[arg-type]
        weights: list[Fraction]
        notes: list[str]
        if spec.method == "equal":
            weights = [Fraction(1)] * len(names)
            notes = [f"equal share 1/{len(names)}"] * len(names)
        elif spec.method == "capacity":
            owners_with_deals = self.svc.deal_owners()
            caps = {n: sum((rep_capacity(r, node.period, root.period.start, spec.ramp_months,
                                         new=r not in owners_with_deals) for r in groups[n]),
                           Fraction(0)) for n in names}
            weights = [caps[n] for n in names]
            total = sum(weights, Fraction(0))
            notes = []
            for n in names:
                new = [r for r in groups[n] if r not in owners_with_deals]
                extra = (f"; new reps ramping over {spec.ramp_months} months from "
                         f"{root.period.start}: {', '.join(new)}" if new else "")
                notes.append(f"capacity {float(caps[n]):.4g} of {float(total):.4g} "
                             f"({len(groups[n])} rep(s)){extra}")
        else:
            weights, notes = self._history_weights(node, level, names)
        parts = [(Owner(level, n).slug(), o, node.period, w, note)  # type: ignore[arg-type]
                 for n, o, w, note in zip(names, child_owners, weights, notes, strict=True)]
        return self._children_of(node, parts)

    def _history_weights(self, node: Goal, level: str, names: list[str]
                         ) -> tuple[list[Fraction], list[str]]:
        """Each child's share of the node's KPI in the same period last year; without data
        there, in all the history before the period; without that, in all the data."""
        owner = node.owner_ref
        first = self.svc.first_day(node.kind, node.metric)
        bases: list[tuple[str, Period | None]] = [("same period last year",
                                                   node.period.shift_years(-1))]
        if first is not None and first < node.period.start:
            bases.append(("all history before the period",
                          custom(first, node.period.start - dt.timedelta(days=1))))
        if first is not None:
            last = max(self.svc.days(node.kind, node.metric), default=first)
            bases.append(("all data (no history before the period)", custom(first, last)))
        for label, basis in bases:
            if basis is None:
                continue
            by = self.svc.grouped(node.metric, owner, basis, node.kind, level)
            vals = {n: max(by.get(n) or ZERO, ZERO) for n in names}
            total = sum(vals.values(), ZERO)
            if total > 0:
                return ([Fraction(vals[n]) for n in names],
                        [f"history share {vals[n] / total:.2%} of {node.metric} {total} "
                         f"({label}: {basis})" for n in names])
        return ([Fraction(1)] * len(names),
                [f"history: no {node.metric} for {owner} at all; equal shares"] * len(names))


def rep_capacity(rep: str, period: Period, ramp_start: dt.date, ramp_months: int,
                 new: bool) -> Fraction:
    """Share of full productivity a rep brings over ``period``: 1 for an existing rep; a new rep
    ramps linearly from ``ramp_start``: month k of the ramp (1…R) at k/(R+1), then 1. Months are
    weighted by their days inside the period."""
    if not new or ramp_months <= 0:
        return Fraction(1)
    total = Fraction(0)
    for m in period.months():
        k = (m.start.year - ramp_start.year) * 12 + (m.start.month - ramp_start.month) + 1
        cap = Fraction(1) if k > ramp_months else Fraction(max(k, 0), ramp_months + 1)
        total += cap * m.days
    return total / period.days
