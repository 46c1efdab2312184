"""Computing, storing and reading statements: runs, revisions, locked-period adjustments,
explanations and history."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import db
from .calc import Calculator
from .codecs import diff_lines, header_from_json, header_to_json, lines_from_json, lines_to_json
from .db import (
    AdjustmentRow,
    InquiryRow,
    RevisionRow,
    StatementRow,
)
from .inputs import PLUGIN, IncentivesError
from .locks import Locks
from .model import Line, PlanVersion, RuleError, StatementResult
from .money import ZERO
from .periods import Period, PeriodError


@dataclass
class RunOutcome:
    payee: str
    period: str
    status: str  # created | updated | unchanged | needs_reapproval | locked | error
    total: Decimal | None = None
    previous_total: Decimal | None = None
    plan: str | None = None
    plan_version: int | None = None
    message: str | None = None
    lines: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"rep": self.payee, "period": self.period, "status": self.status,
                "total": self.total, "previous_total": self.previous_total, "plan": self.plan,
                "plan_version": self.plan_version, "lines": self.lines, "message": self.message}


@dataclass
class Computed:
    """A statement as it would be stored now: calculator lines plus adjustment lines."""

    result: StatementResult
    lines: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((d["amount"] for d in self.lines), ZERO)


class Statements(Locks):
    """Statements on top of the inputs and the locks."""

    # -- computing statements ----------------------------------------------------------------------

    def _line_dict(self, ln: Line, calc: Calculator) -> dict[str, Any]:
        d = ln.as_dict()
        if ln.deal is not None and ln.kind != "adjustment":
            f = calc.facts.get(ln.deal)
            if f is not None:
                inputs = dict(d["inputs"])
                inputs.setdefault("deal_amount", f.amount)
                inputs.setdefault("closed_on", f.closed_on.isoformat())
                if f.product:
                    inputs.setdefault("product", f.product)
                inputs.setdefault("deal_type", calc.deal_type(f))
                d["inputs"] = inputs
        return d

    def _stored_locked(self, s: Session, payee: str) -> dict[str, list[dict[str, Any]]]:
        """Lines of every locked statement of ``payee`` by period."""
        out: dict[str, list[dict[str, Any]]] = {}
        rows = s.execute(select(StatementRow.period, RevisionRow.lines).join(
            RevisionRow, (RevisionRow.statement_id == StatementRow.id)
            & (RevisionRow.revision == StatementRow.revision)).where(
            StatementRow.tenant == self.tenant, StatementRow.payee == payee,
            StatementRow.locked.is_(True))).all()
        for period, lines in rows:
            out[period] = lines_from_json(lines)
        return out

    def compute(self, payee: str, period: Period, calc: Calculator | None = None,
                locked: set[str] | None = None) -> Computed:
        """The statement of ``payee`` for an open ``period`` as it would be stored now."""
        calc = calc or self.calculator()
        locked = self.locked_keys() if locked is None else locked
        res = calc.statement(payee, period)
        lines = [self._line_dict(ln, calc) for ln in res.lines]
        with self.session() as s:
            for a in s.scalars(select(AdjustmentRow).where(
                    AdjustmentRow.tenant == self.tenant, AdjustmentRow.payee == payee,
                    AdjustmentRow.period == period.key).order_by(AdjustmentRow.id)):
                lines.append(self._adjustment_line(a.amount, a.origin, a.reason, a.source_period,
                                                   {"adjustment_id": a.id}))
            lines.extend(self._recalc_lines(s, calc, payee, period, locked))
        return Computed(res, lines)

    def _adjustment_line(self, amount: Decimal, rule: str, note: str, source: str | None,
                         inputs: dict[str, Any]) -> dict[str, Any]:
        version = self.plugins.distributions.get(PLUGIN, (None, None))[1]
        ln = Line(exact=amount, kind="adjustment", note=note, source_period=source,
                  inputs=inputs, amount=amount, rule=rule, type="adjustment", plugin=PLUGIN,
                  version=version)
        return ln.as_dict()

    def _recalc_lines(self, s: Session, calc: Calculator, payee: str, period: Period,
                      locked: set[str]) -> list[dict[str, Any]]:
        """Adjustments for locked periods whose first open period is ``period``."""
        if not locked:
            return []
        stored = self._stored_locked(s, payee)
        booked_adj: dict[str, Decimal] = {}
        for lines in stored.values():
            for d in lines:
                if d["kind"] == "adjustment" and d.get("rule") == "recalc" and d.get(
                        "source_period"):
                    booked_adj[d["source_period"]] = booked_adj.get(
                        d["source_period"], ZERO) + d["amount"]
        out = []
        cands = set()
        for key in locked:
            try:
                p = Period.parse(key)
            except PeriodError:
                continue
            if p.kind == period.kind:
                cands.add(p)
            elif p.kind != "month" and period.kind == "month":
                cands.update(p.months())
            elif p.kind == "year" and period.kind == "quarter":
                cands.update(Period.calendar("quarter", p.year, q) for q in range(1, 5))
        for lp in sorted(cands):
            if lp >= period or self.first_open_after(lp, locked) != period:
                continue
            try:
                due = calc.statement(payee, lp).total
            except RuleError:
                continue
            booked_lines = stored.get(lp.key, [])
            booked = sum((d["amount"] for d in booked_lines if d["kind"] != "adjustment"), ZERO)
            booked += booked_adj.get(lp.key, ZERO)
            if due != booked:
                out.append(self._adjustment_line(
                    due - booked, "recalc",
                    f"{lp} is locked: recalculated {due}, booked {booked}", lp.key,
                    {"due": due, "booked": booked}))
        return out

    def run(self, period: Period, plan: PlanVersion | None = None, actor: str | None = None,
            payees: Iterable[str] | None = None, only_missing: bool = False
            ) -> list[RunOutcome]:
        """Compute and store the statements of every payee of ``plan`` (or of any plan)."""
        calc = self.calculator()
        book = self.plan_book()
        locked = self.locked_keys()
        with self.session() as s:
            existing = {r.payee: r for r in s.scalars(select(StatementRow).where(
                StatementRow.tenant == self.tenant, StatementRow.period == period.key))}
            adjusted = set(s.scalars(select(AdjustmentRow.payee).where(
                AdjustmentRow.tenant == self.tenant, AdjustmentRow.period == period.key)))
        if payees is None:
            candidates = calc.payees() | book.payees() | set(existing) | adjusted
        else:
            candidates = set(payees)
        outcomes: list[RunOutcome] = []
        for payee in sorted(candidates):
            a = book.resolve(payee, period)
            if a is None and payee not in existing and payee not in adjusted:
                continue
            if plan is not None and (a is None or a.plan.name != plan.name):
                continue
            if a is not None and payee not in existing and payee not in adjusted:
                roles = set(calc.roles_of(payee))
                if "manager" in roles and not a.plan.pays_managers \
                        and not calc.credits_ever(payee):
                    continue  # a manager without deals of their own on a reps-only plan
                if a.plan.roles.isdisjoint(roles):
                    continue
            if only_missing and payee in existing:
                continue
            outcomes.append(self._run_one(payee, period, calc, locked, actor,
                                          existing.get(payee)))
        return outcomes

    def _run_one(self, payee: str, period: Period, calc: Calculator, locked: set[str],
                 actor: str | None, row: StatementRow | None) -> RunOutcome:
        if row is not None and row.locked or self.is_locked(period, locked):
            out = RunOutcome(payee, period.key, "locked", row.total if row else None,
                             plan=row.plan if row else None,
                             plan_version=row.plan_version if row else None)
            try:
                due = calc.statement(payee, period).total
                booked = row.total if row else ZERO
                if due != booked:
                    target = self.first_open_after(period, locked)
                    out.message = (f"locked; recalculated {due} vs booked {booked}: the "
                                   f"difference is booked as an adjustment in {target}")
            except RuleError as exc:
                out.message = str(exc)
            return out
        try:
            comp = self.compute(payee, period, calc, locked)
        except RuleError as exc:
            return RunOutcome(payee, period.key, "error", message=str(exc))
        return self._store(payee, period, comp, actor)

    def _store(self, payee: str, period: Period, comp: Computed, actor: str | None
               ) -> RunOutcome:
        res = comp.result
        total = comp.total
        header = res.header()
        now = db.now()
        kind = None
        with self.write_session.begin() as s:
            row = s.scalar(select(StatementRow).where(
                StatementRow.tenant == self.tenant, StatementRow.payee == payee,
                StatementRow.period == period.key).with_for_update())
            if row is not None and row.locked:
                return RunOutcome(payee, period.key, "locked", row.total)
            new_json = lines_to_json(comp.lines)
            if row is not None:
                cur = s.scalar(select(RevisionRow).where(
                    RevisionRow.statement_id == row.id, RevisionRow.revision == row.revision))
                if cur is not None and cur.lines == new_json and cur.header == header_to_json(
                        header):
                    return RunOutcome(payee, period.key, "unchanged", row.total, row.total,
                                      row.plan, row.plan_version, lines=len(comp.lines))
                previous = row.total
                row.revision += 1
                row.total = total
                row.plan, row.plan_version = res.plan, res.plan_version
                row.updated_at = now
                if row.status in ("approved", "signed_off"):
                    row.status = "needs_reapproval"
                    kind = "statement.needs_reapproval"
                status = "needs_reapproval" if row.status == "needs_reapproval" else "updated"
            else:
                previous = None
                row = StatementRow(tenant=self.tenant, payee=payee, period=period.key,
                                   status="draft", revision=1, total=total, plan=res.plan,
                                   plan_version=res.plan_version, locked=False, updated_at=now)
                s.add(row)
                s.flush()
                status = "created"
            s.add(RevisionRow(statement_id=row.id, revision=row.revision, total=total,
                              header=header_to_json(header), lines=new_json,
                              reason=f"run by {actor or 'system'}", computed_at=now))
            self._audit(s, "statement.computed", actor, payee, period.key,
                        revision=row.revision, total=str(total))
        if kind:
            self.notify(kind, {"rep": payee, "period": period.key, "total": str(total),
                               "approved_total": str(row.approved_total)})
        return RunOutcome(payee, period.key, status, total, previous, res.plan,
                          res.plan_version, lines=len(comp.lines))

    # -- reading statements --------------------------------------------------------------------------

    def _row(self, s: Session, payee: str, period: Period) -> StatementRow | None:
        return s.scalar(select(StatementRow).where(
            StatementRow.tenant == self.tenant, StatementRow.payee == payee,
            StatementRow.period == period.key))

    def statement(self, payee: str, period: Period, revision: int | None = None,
                  preview: bool = True) -> dict[str, Any]:
        """The stored statement (current or given revision); an unsaved preview if none."""
        with self.session() as s:
            row = self._row(s, payee, period)
            if row is not None:
                rev = s.scalar(select(RevisionRow).where(
                    RevisionRow.statement_id == row.id,
                    RevisionRow.revision == (revision or row.revision)))
                if rev is None:
                    raise IncentivesError(f"{payee} {period} has no revision {revision}")
                approved_lines = None
                if row.status == "needs_reapproval" and row.approved_revision:
                    ar = s.scalar(select(RevisionRow).where(
                        RevisionRow.statement_id == row.id,
                        RevisionRow.revision == row.approved_revision))
                    approved_lines = lines_from_json(ar.lines) if ar else None
                inquiries = s.scalar(select(func.count()).select_from(InquiryRow).where(
                    InquiryRow.tenant == self.tenant, InquiryRow.payee == payee,
                    InquiryRow.period == period.key, InquiryRow.status == "open"))
                return self._view(row, rev, approved_lines, inquiries or 0)
        if not preview:
            raise IncentivesError(f"no statement for {payee} in {period}; run it first "
                                  f"(attain commission run --period {period})")
        if self.is_locked(period):
            raise IncentivesError(f"{period} is locked and has no statement for {payee}")
        comp = self.compute(payee, period)
        if comp.result.plan is None and not comp.lines:
            raise IncentivesError(f"{payee} has no plan assigned for {period} "
                                  "(attain commission assign, or a plan with payees: all)")
        return self._preview(payee, period, comp)

    def _numbered(self, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"line": i, **d} for i, d in enumerate(lines, start=1)]

    def _view(self, row: StatementRow, rev: RevisionRow,
              approved_lines: list[dict[str, Any]] | None, open_inquiries: int
              ) -> dict[str, Any]:
        lines = lines_from_json(rev.lines)
        out: dict[str, Any] = {
            "tenant": self.tenant, "rep": row.payee, "period": row.period,
            "status": row.status, "locked": row.locked, "revision": rev.revision,
            "current_revision": row.revision, "plan": row.plan,
            "plan_version": row.plan_version, "total": rev.total,
            **{k: v for k, v in header_from_json(rev.header).items()
               if k not in ("plan", "plan_version")},
            "computed_at": rev.computed_at,
            "approved_by": row.approved_by, "approved_at": row.approved_at,
            "signed_by": row.signed_by, "signed_at": row.signed_at,
            "open_inquiries": open_inquiries,
            "rounding": "each line rounded half-even to cents; total = sum of lines",
            "lines": self._numbered(lines),
        }
        if approved_lines is not None and row.approved_total is not None:
            out["difference"] = {"approved_revision": row.approved_revision,
                                 "approved_total": row.approved_total,
                                 "total": rev.total, "delta": rev.total - row.approved_total,
                                 **diff_lines(approved_lines, lines)}
        return out

    def _preview(self, payee: str, period: Period, comp: Computed) -> dict[str, Any]:
        res = comp.result
        return {"tenant": self.tenant, "rep": payee, "period": period.key, "status": "preview",
                "locked": False, "revision": None, "plan": res.plan,
                "plan_version": res.plan_version, "total": comp.total,
                **{k: v for k, v in res.header().items() if k not in ("plan", "plan_version")},
                "rounding": "each line rounded half-even to cents; total = sum of lines",
                "lines": self._numbered(comp.lines)}

    def explain(self, payee: str, period: Period, fresh: bool = False) -> dict[str, Any]:
        """Every deal and rule with inputs, rate, tier and result; lines sum to the total."""
        if fresh and not self.is_locked(period):
            view = self._preview(payee, period, self.compute(payee, period))
        else:
            view = self.statement(payee, period)
        total = sum((ln["amount"] for ln in view["lines"]), ZERO)
        if total != view["total"]:  # cannot happen: the total is defined as this sum
            raise IncentivesError(f"lines add up to {total}, not {view['total']}")
        view["check"] = {"sum_of_lines": total, "equals_total": total == view["total"]}
        by_rule: dict[str, Decimal] = {}
        for ln in view["lines"]:
            by_rule[ln["rule"]] = by_rule.get(ln["rule"], ZERO) + ln["amount"]
        view["by_rule"] = by_rule
        return view

    def statements(self, period: Period | None = None, payee: str | None = None
                   ) -> list[dict[str, Any]]:
        with self.session() as s:
            q = select(StatementRow).where(StatementRow.tenant == self.tenant)
            if period is not None:
                q = q.where(StatementRow.period == period.key)
            if payee is not None:
                q = q.where(StatementRow.payee == payee)
            return [{"rep": r.payee, "period": r.period, "status": r.status, "locked": r.locked,
                     "revision": r.revision, "total": r.total, "plan": r.plan,
                     "plan_version": r.plan_version, "approved_total": r.approved_total}
                    for r in s.scalars(q.order_by(StatementRow.period, StatementRow.payee))]

    def history(self, payee: str, period: Period) -> list[dict[str, Any]]:
        with self.session() as s:
            row = self._row(s, payee, period)
            if row is None:
                return []
            return [{"revision": r.revision, "total": r.total, "reason": r.reason,
                     "computed_at": r.computed_at}
                    for r in s.scalars(select(RevisionRow).where(
                        RevisionRow.statement_id == row.id).order_by(RevisionRow.revision))]
