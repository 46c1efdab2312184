"""Incentives on top of the store: plans, assignments, splits, periods, statements, workflow.

The heavy lifting is pure and in memory (:class:`~attain.plugins.incentives.calc.Calculator`);
this module loads its inputs from the database, persists what it computed and enforces the
rules of the trade:

* **Locked periods never change.** Computing an open period ``T`` compares, for every locked
  period ``L`` whose first open period is ``T``, what ``L`` is due now with what was booked for it
  (its locked statement plus earlier adjustments); any difference becomes an ``adjustment`` line in
  ``T``. Statements of a locked period are frozen.
* **Approved statements are not silently changed.** A recalculation that changes an approved or
  signed-off statement stores a new revision, flags it ``needs_reapproval`` and shows the
  difference against the approved revision.
* **History is append-only**: plan versions, assignments, splits, revisions, adjustments, audit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from .db import (
    AccrualRow,
)
from .inputs import PLUGIN, IncentivesError
from .model import Assignment, DealFact, PlanVersion, RuleError
from .money import ZERO, pct, to_decimal
from .periods import Period
from .planbook import WILDCARD, AssignmentRec, PlanBook
from .statements import Computed, RunOutcome
from .workflow import Workflow

__all__ = ["PLUGIN", "WILDCARD", "AssignmentRec", "Computed", "Incentives", "IncentivesError",
           "PlanBook", "RunOutcome"]


class Incentives(Workflow):
    """The incentives service for one tenant of an :class:`~attain.core.Engine`: the inputs
    (:mod:`.inputs`), period locks (:mod:`.locks`), statements (:mod:`.statements`), the
    workflow (:mod:`.workflow`), and here what-if simulations and accruals."""

    # -- what-if ---------------------------------------------------------------------------------------

    def latest_period(self, kind: str) -> Period:
        facts = self.calculator().facts
        if not facts:
            return Period.of(dt.date.today(), kind)  # type: ignore[arg-type]
        last = max(f.closed_on for f in facts.values())
        return Period.of(last, kind)  # type: ignore[arg-type]

    def _assignment_under(self, payee: str, period: Period, plan: PlanVersion | None
                          ) -> Assignment | None:
        current = self.plan_book().resolve(payee, period)
        if plan is None:
            return current
        quota = None
        for a in plan.spec.assignments:
            if a.rep == payee and period.overlaps(a.start, a.end):
                quota = a.quota
        if quota is None and current is not None and current.plan.name == plan.name:
            quota = current.quota
        return Assignment(plan, quota)

    def whatif(self, payee: str, amount: Decimal, period: Period | None = None,
               plan: PlanVersion | None = None, product: str | None = None,
               account: str | None = None) -> dict[str, Any]:
        """What ``payee`` would earn in ``period`` by closing one more deal of ``amount``."""
        calc = self.calculator()
        if period is None:
            cur = self.plan_book().resolve(payee, self.latest_period("quarter"))
            kind = plan.period if plan else (cur.plan.period if cur else "quarter")
            period = self.latest_period(kind)
        a = self._assignment_under(payee, period, plan)
        if a is None:
            raise IncentivesError(f"{payee} has no plan for {period}; pass --plan FILE")
        before = calc.compute_with(payee, period, a)
        dims = self.engine.dimensions(self.tenant)
        series = dims.products[product].series if product and product in dims.products else None
        fact = DealFact("~what-if", payee, to_decimal(amount), period.end, product, series,
                        account)
        calc.upsert_deal(fact)
        try:
            after = calc.compute_with(payee, period, a)
        finally:
            calc.remove_deal(fact.deal_id)
        delta = after.total - before.total
        new_lines = [self._line_dict(ln, calc) | {"inputs": ln.inputs or {}}
                     for ln in after.lines if ln.deal == fact.deal_id or ln.deal is None]
        return {"rep": payee, "period": period.key, "plan": a.plan.name,
                "plan_version": a.plan.version, "deal_amount": fact.amount,
                "current_total": before.total, "total_with_deal": after.total,
                "you_would_earn": delta,
                "effective_rate": (delta / fact.amount).quantize(Decimal("0.0001"))
                if fact.amount else None,
                "attainment_pct_before": pct(before.credited, a.quota or a.plan.quota),
                "attainment_pct_after": pct(after.credited, a.quota or a.plan.quota),
                "lines": new_lines}

    def compare(self, payee: str, plan: PlanVersion, year: int | None = None) -> dict[str, Any]:
        """How ``plan`` would have paid ``payee`` over a year versus what their plan paid."""
        calc = self.calculator()
        if year is None:
            year = self.latest_period("year").year
        first = Period.of(dt.date(year, 1, 1), plan.period)
        rows = []
        tot_cur = ZERO
        tot_new = ZERO
        p = first
        while p.year == year:
            cur_a = self.plan_book().resolve(payee, p)
            try:
                cur = calc.compute_with(payee, p, cur_a).total if cur_a and \
                    cur_a.plan.period == p.kind else None
            except RuleError:
                cur = None
            new = calc.compute_with(payee, p, self._assignment_under(payee, p, plan)).total
            rows.append({"period": p.key, "current_plan": cur_a.plan.name if cur_a else None,
                         "current": cur, "new": new,
                         "delta": None if cur is None else new - cur})
            tot_cur += cur or ZERO
            tot_new += new
            p = p.next()
        return {"rep": payee, "year": year, "plan": plan.name, "periods": rows,
                "total_current": tot_cur, "total_new": tot_new, "delta": tot_new - tot_cur}

    # -- accruals ----------------------------------------------------------------------------------------

    def accruals(self, period: Period | None = None) -> list[dict[str, Any]]:
        with self.session() as s:
            q = select(AccrualRow).where(AccrualRow.tenant == self.tenant)
            if period is not None:
                q = q.where(AccrualRow.period == period.key)
            return [{"rep": r.payee, "period": r.period, "total": r.total,
                     "credited": r.credited, "deals": r.deals, "plan": r.plan,
                     "plan_version": r.plan_version, "updated_at": r.updated_at}
                    for r in s.scalars(q.order_by(AccrualRow.period, AccrualRow.payee))]

    def rebuild_accruals(self, periods: Iterable[Period] | None = None) -> int:
        """Recompute accruals of every payee (for the given periods, or every period with deals)."""
        from .live import write_accruals

        calc = self.calculator()
        book = self.plan_book()
        pairs: set[tuple[str, Period]] = set()
        wanted = list(periods) if periods is not None else None
        for payee in calc.payees() | book.payees():
            if wanted is not None:
                pairs.update((payee, p) for p in wanted)
                continue
            for month in calc.active_months(payee):
                a = book.resolve(payee, month)
                if a is None:
                    a = book.resolve(payee, Period.of(month.start, "quarter"))
                pairs.add((payee, Period.of(month.start, a.plan.period if a else "quarter")))
        return write_accruals(self.engine, self.tenant, calc, pairs)
