"""The statement workflow: closing (locking) a period, approval, sign-off, manual adjustments,
reps' inquiries and the audit log."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update

from . import db
from .codecs import lines_from_json
from .db import (
    AdjustmentRow,
    AuditRow,
    InquiryRow,
    PeriodRow,
    RevisionRow,
    StatementRow,
)
from .inputs import IncentivesError
from .money import to_decimal
from .periods import Period
from .statements import RunOutcome, Statements


class Workflow(Statements):
    """Period locks, approvals, sign-offs, adjustments and inquiries on top of the statements."""

    def lock(self, period: Period, actor: str | None = None, force: bool = False
             ) -> list[RunOutcome]:
        """Close a period: compute every statement not yet stored, then freeze them all.

        Refuses when a statement cannot be computed (e.g. a rep without a quota) unless
        ``force``: that rep's commission for the period would then only ever be paid as a later
        adjustment."""
        if self.is_locked(period):
            raise IncentivesError(f"{period} is already locked")
        outcomes = self.run(period, actor=actor, only_missing=True)
        errors = [o for o in outcomes if o.status == "error"]
        if errors and not force:
            raise IncentivesError(
                f"{len(errors)} statement(s) of {period} cannot be computed (first: "
                f"{errors[0].payee}: {errors[0].message}); fix them or lock with --force")
        with self.write_session.begin() as s:
            s.merge(PeriodRow(tenant=self.tenant, period=period.key, locked=True,
                              locked_at=db.now(), locked_by=actor))
            keys = [period.key, *(m.key for m in period.months())]
            s.execute(update(StatementRow).where(
                StatementRow.tenant == self.tenant, StatementRow.period.in_(keys)
            ).values(locked=True))
            self._audit(s, "period.locked", actor, period=period.key)
            self._bump(s)
        self.notify("period.locked", {"period": period.key})
        return outcomes

    # -- workflow ---------------------------------------------------------------------------------------

    def approve(self, payee: str, period: Period, by: str) -> dict[str, Any]:
        manager = self.roster().get(payee)
        if manager and by != manager:
            raise IncentivesError(f"{payee}'s statement is approved by their manager "
                                  f"{manager}, not {by}")
        with self.write_session.begin() as s:
            row = self._row(s, payee, period)
            if row is None:
                raise IncentivesError(f"no statement for {payee} in {period}; run it first")
            if row.status not in ("draft", "needs_reapproval"):
                raise IncentivesError(f"the statement is {row.status}; only a draft or a "
                                      "statement needing re-approval can be approved")
            row.status = "approved"
            row.approved_revision = row.revision
            row.approved_total = row.total
            row.approved_by = by
            row.approved_at = db.now()
            row.signed_by = None
            row.signed_at = None
            self._audit(s, "statement.approved", by, payee, period.key, revision=row.revision,
                        total=str(row.total))
            total = row.total
        self.notify("statement.approved", {"rep": payee, "period": period.key,
                                           "total": str(total), "by": by})
        return self.statement(payee, period)

    def signoff(self, payee: str, period: Period, by: str | None = None) -> dict[str, Any]:
        if by is not None and by != payee:
            raise IncentivesError(f"only {payee} can sign off their own statement")
        with self.write_session.begin() as s:
            row = self._row(s, payee, period)
            if row is None:
                raise IncentivesError(f"no statement for {payee} in {period}")
            if row.status != "approved":
                raise IncentivesError(f"the statement is {row.status}; it must be approved by "
                                      "the manager before the rep signs it off")
            row.status = "signed_off"
            row.signed_by = payee
            row.signed_at = db.now()
            self._audit(s, "statement.signed_off", payee, payee, period.key,
                        revision=row.revision)
            total = row.total
        self.notify("statement.signed_off", {"rep": payee, "period": period.key,
                                             "total": str(total)})
        return self.statement(payee, period)

    # -- adjustments and inquiries ---------------------------------------------------------------------

    def adjust(self, payee: str, period: Period, amount: Decimal, reason: str,
               actor: str | None = None, origin: str = "manual") -> dict[str, Any]:
        """Book an adjustment for ``period``; paid in it if open, else in the first open period."""
        amount = to_decimal(amount)
        if amount != amount.quantize(Decimal("0.01")):
            raise IncentivesError("an adjustment is an amount in cents")
        target = period if not self.is_locked(period) else self.first_open_after(period)
        with self.write_session.begin() as s:
            row = AdjustmentRow(tenant=self.tenant, payee=payee, period=target.key,
                                source_period=period.key if target != period else None,
                                amount=amount, reason=reason, origin=origin, created_by=actor,
                                created_at=db.now())
            s.add(row)
            s.flush()
            adj_id = row.id
            self._audit(s, "adjustment.booked", actor, payee, target.key, amount=str(amount),
                        reason=reason, source_period=period.key)
        refreshed = None
        with self.session() as s:
            if self._row(s, payee, target) is not None:
                refreshed = self.run(target, payees=[payee], actor=actor)
        return {"id": adj_id, "rep": payee, "period": target.key, "source_period": period.key,
                "amount": amount, "reason": reason,
                "statement": refreshed[0].as_dict() if refreshed else None}

    def open_inquiry(self, payee: str, period: Period, line_no: int | None, text: str,
                     by: str | None = None) -> dict[str, Any]:
        with self.write_session.begin() as s:
            row = self._row(s, payee, period)
            if row is None:
                raise IncentivesError(f"no statement for {payee} in {period}")
            rev = s.scalar(select(RevisionRow).where(RevisionRow.statement_id == row.id,
                                                     RevisionRow.revision == row.revision))
            assert rev is not None
            lines = json.loads(rev.lines)
            line: dict[str, Any] = {}
            if line_no is not None:
                if not 1 <= line_no <= len(lines):
                    raise IncentivesError(f"the statement has lines 1–{len(lines)}")
                line = lines[line_no - 1]
            inq = InquiryRow(tenant=self.tenant, payee=payee, period=period.key,
                             revision=row.revision, line_no=line_no, line=json.dumps(line),
                             raised_by=by or payee, text=text, status="open",
                             created_at=db.now())
            s.add(inq)
            s.flush()
            iid = inq.id
            self._audit(s, "inquiry.opened", by or payee, payee, period.key, inquiry=iid,
                        line=line_no)
        self.notify("inquiry.opened", {"id": iid, "rep": payee, "period": period.key,
                                       "line": line_no, "text": text})
        return self.inquiry(iid)

    def inquiry(self, iid: int) -> dict[str, Any]:
        with self.session() as s:
            r = s.get(InquiryRow, iid)
            if r is None or r.tenant != self.tenant:
                raise IncentivesError(f"no inquiry {iid}")
            return self._inq(r)

    @staticmethod
    def _inq(r: InquiryRow) -> dict[str, Any]:
        disputed = json.loads(r.line)  # the line as stored: numbers as text
        return {"id": r.id, "rep": r.payee, "period": r.period, "revision": r.revision,
                "line": r.line_no,
                "disputed": lines_from_json(json.dumps([disputed]))[0] if disputed else {},
                "raised_by": r.raised_by,
                "text": r.text, "status": r.status, "reply": r.reply,
                "adjustment_id": r.adjustment_id, "resolved_by": r.resolved_by,
                "created_at": r.created_at, "resolved_at": r.resolved_at}

    def inquiries(self, status: str | None = None, payee: str | None = None
                  ) -> list[dict[str, Any]]:
        with self.session() as s:
            q = select(InquiryRow).where(InquiryRow.tenant == self.tenant)
            if status:
                q = q.where(InquiryRow.status == status)
            if payee:
                q = q.where(InquiryRow.payee == payee)
            return [self._inq(r) for r in s.scalars(q.order_by(InquiryRow.id))]

    def resolve_inquiry(self, iid: int, by: str | None, reply: str | None = None,
                        amount: Decimal | None = None) -> dict[str, Any]:
        inq = self.inquiry(iid)
        if inq["status"] != "open":
            raise IncentivesError(f"inquiry {iid} is already {inq['status']}")
        if reply is None and amount is None:
            raise IncentivesError("resolve with a reply, an adjustment amount, or both")
        adj_id = None
        if amount is not None:
            adj = self.adjust(inq["rep"], Period.parse(inq["period"]), amount,
                              reply or f"inquiry {iid}", by, origin="inquiry")
            adj_id = adj["id"]
        with self.write_session.begin() as s:
            r = s.get(InquiryRow, iid)
            assert r is not None
            r.status = "adjusted" if amount is not None else "answered"
            r.reply = reply
            r.adjustment_id = adj_id
            r.resolved_by = by
            r.resolved_at = db.now()
            self._audit(s, "inquiry.resolved", by, r.payee, r.period, inquiry=iid,
                        status=r.status)
        self.notify("inquiry.resolved", {"id": iid, "rep": inq["rep"], "period": inq["period"],
                                         "status": "adjusted" if amount is not None
                                         else "answered"})
        return self.inquiry(iid)

    def audit(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.session() as s:
            return [{"at": r.at, "actor": r.actor, "action": r.action, "rep": r.payee,
                     "period": r.period, "details": json.loads(r.details)}
                    for r in s.scalars(select(AuditRow).where(AuditRow.tenant == self.tenant)
                                       .order_by(AuditRow.id.desc()).limit(limit))]
