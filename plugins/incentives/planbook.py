"""Who is paid under which plan version when: the effective-dated plan book of one tenant."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from .model import Assignment, PlanVersion
from .periods import Period

WILDCARD = "*"

@dataclass
class AssignmentRec:
    id: int
    batch: int
    payee: str
    plan: str
    start: dt.date | None
    end: dt.date | None
    quota: Decimal | None


class PlanBook:
    """Plan versions and assignments → the resolver the calculator uses.

    * A plan's version for a period is the one in force on the period's last day: the highest
      ``effective_from`` not after it (ties: the highest version), among versions whose range
      overlaps the period.
    * A payee's assignment for a period: among assignments overlapping the period (named or
      ``*``), the latest batch wins; within a batch a named payee beats ``*``.
    """

    def __init__(self, versions: Mapping[str, Sequence[PlanVersion]],
                 assignments: Sequence[AssignmentRec]) -> None:
        self.versions = {k: list(v) for k, v in versions.items()}
        self.by_payee: dict[str, list[AssignmentRec]] = {}
        for a in assignments:
            self.by_payee.setdefault(a.payee, []).append(a)
        self._cache: dict[tuple[str, Period], Assignment | None] = {}

    def plan_for(self, name: str, period: Period) -> PlanVersion | None:
        best: PlanVersion | None = None
        best_key: tuple[dt.date, int] | None = None
        for v in self.versions.get(name, ()):
            if not v.covers(period):
                continue
            key = (v.effective_from or dt.date.min, v.version)
            if best_key is None or key > best_key:
                best, best_key = v, key
        return best

    def resolve(self, payee: str, period: Period) -> Assignment | None:
        k = (payee, period)
        if k in self._cache:
            return self._cache[k]
        best: tuple[tuple[int, int, dt.date, int], AssignmentRec, PlanVersion] | None = None
        for a in self.by_payee.get(payee, []) + self.by_payee.get(WILDCARD, []):
            if not period.overlaps(a.start, a.end):
                continue
            plan = self.plan_for(a.plan, period)
            if plan is None:
                continue
            key = (a.batch, 0 if a.payee == WILDCARD else 1, a.start or dt.date.min, a.id)
            if best is None or key > best[0]:
                best = (key, a, plan)
        out = None if best is None else Assignment(best[2], best[1].quota, best[1].start,
                                                   best[1].end)
        self._cache[k] = out
        return out

    def payees(self) -> set[str]:
        return {p for p in self.by_payee if p != WILDCARD}
