"""Editing a goal's target: siblings re-balanced (pinned ones kept) so a parent still adds
up, or left alone with the gap reported; the goal's own cascade rescaled."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from .allocation import allocate, rebalance
from .model import (
    Goal,
    GoalError,
)

log = logging.getLogger("attain.goals")

if TYPE_CHECKING:
    from .service import GoalService

ZERO = Decimal(0)


class TargetEditor:
    """Target edits of one goal service (:class:`~.service.GoalService` delegates to it)."""

    def __init__(self, svc: GoalService) -> None:
        self.svc = svc

    def set_target(self, goal_id: str, value: Decimal, keep_siblings: bool = False
                   ) -> dict[str, Any]:
        """Change a goal's target. A child's siblings are re-balanced so the parent still adds
        up (pinned siblings, i.e. edited ones, keep theirs); with ``keep_siblings`` they are left
        alone and the gap is reported. The goal's own cascade is rescaled."""
        goals = {g.id: g for g in self.svc.repo.all(self.svc.tenant)}
        if goal_id not in goals:
            raise KeyError(f"no goal {goal_id!r} in tenant {self.svc.tenant!r}")
        g = goals[goal_id]
        q = self.svc.quantum(g)
        if value < 0 or (value == 0 and g.direction == "up"):
            raise GoalError(goal_id, [f"target {value} must be above 0"])
        if g.aggregation == "cumulative" and (Fraction(value) / Fraction(q)).denominator != 1:
            raise GoalError(goal_id, [f"target {value} must be a whole number of {q}"])
        changed: dict[str, Goal] = {}
        siblings_report: list[dict[str, Any]] = []
        old = g.target
        parent = goals.get(g.parent) if g.parent else None
        mode = "root" if parent is None else ("kept" if keep_siblings else "rebalanced")
        if g.aggregation != "cumulative":
            mode = "set (level KPI: children are not re-balanced)"
            changed[g.id] = g.model_copy(update={"target": value, "pinned": parent is not None})
        elif parent is None or keep_siblings:
            changed.update(self._rescaled(goals, g, value, g.stretch))
        else:
            kids = [k for k in goals.values() if k.parent == parent.id]
            sibs = [k for k in kids if k.id != g.id]
            pinned_sum = sum((k.target for k in sibs if k.pinned), ZERO)
            free = [k for k in sibs if not k.pinned]
            remaining = parent.target - value - pinned_sum
            if remaining < 0:
                raise GoalError(goal_id, [
                    f"{value} plus the pinned siblings' {pinned_sum} exceeds the parent "
                    f"{parent.id} target {parent.target} by {-remaining}; lower it, or use "
                    "--keep-siblings to leave the siblings and accept the gap"])
            if not free and remaining != 0:
                raise GoalError(goal_id, [
                    f"every sibling is pinned, nothing can absorb {remaining}; use "
                    "--keep-siblings to accept the gap (or edit the parent)"])
            plan = {k.id: k.target for k in kids}
            plan[g.id] = value
            if free:
                plan.update(zip([k.id for k in free],
                                rebalance(remaining, [k.target for k in free], q), strict=True))
            siblings_report = [{"id": k.id, "old": k.target, "new": plan[k.id]} for k in free]
            # the parent's stretch is re-shared over the new child targets
            stretches = (dict(zip([k.id for k in kids],
                                  allocate(parent.stretch, [plan[k.id] for k in kids], q),
                                  strict=True))
                         if parent.stretch is not None else {k.id: k.stretch for k in kids})
            for k in kids:
                if plan[k.id] != k.target or stretches[k.id] != k.stretch or k.id == g.id:
                    changed.update(self._rescaled(goals, k, plan[k.id], stretches[k.id]))
        if parent is not None:
            changed[g.id] = changed[g.id].model_copy(update={"pinned": True})
        self.svc.repo.save(self.svc.tenant, changed.values())
        report: dict[str, Any] = {"goal": goal_id, "old": old, "new": value, "mode": mode,
                                  "siblings": siblings_report, "changed": sorted(changed)}
        if parent is not None:
            total = sum((changed.get(k.id, k).target for k in goals.values()
                         if k.parent == parent.id), ZERO)
            report.update({"parent": parent.id, "parent_target": parent.target,
                           "children_sum": total, "gap": total - parent.target})
        return report

    def _rescaled(self, goals: Mapping[str, Goal], node: Goal, target: Decimal,
                  stretch: Decimal | None) -> dict[str, Goal]:
        """``node`` with a new target and stretch, and its whole cascade scaled to match (pinned
        children keep their targets when possible)."""
        out: dict[str, Goal] = {}
        out[node.id] = node.model_copy(update={"target": target, "stretch": stretch})
        kids = [k for k in goals.values() if k.parent == node.id]
        if not kids or node.aggregation != "cumulative":
            return out
        q = self.svc.quantum(node)
        pinned_sum = sum((k.target for k in kids if k.pinned), ZERO)
        free = [k for k in kids if not k.pinned]
        if free and target - pinned_sum >= 0:
            plan = dict(zip([k.id for k in free],
                            rebalance(target - pinned_sum, [k.target for k in free], q),
                            strict=True))
            plan.update({k.id: k.target for k in kids if k.pinned})
        else:  # pins cannot be honoured: scale everyone, pins are released
            plan = dict(zip([k.id for k in kids], rebalance(target, [k.target for k in kids], q),
                            strict=True))
            kids = [k.model_copy(update={"pinned": False}) for k in kids]
        stretches = (allocate(stretch, [plan[k.id] for k in kids], q)
                     if stretch is not None else [k.stretch for k in kids])
        for k, st in zip(kids, stretches, strict=True):
            if plan[k.id] != k.target or st != k.stretch or not k.pinned and \
                    goals[k.id].pinned:
                out.update(self._rescaled(goals, k, plan[k.id], st))
            if not k.pinned and goals[k.id].pinned:
                out[k.id] = out[k.id].model_copy(update={"pinned": False})
        return out
