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
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from attain.core import DealEvent, Engine
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from . import db
from .calc import Calculator, Shares
from .db import (
    AccrualRow,
    AdjustmentRow,
    AssignmentRow,
    AuditRow,
    GenerationRow,
    InquiryRow,
    PeriodRow,
    PlanVersionRow,
    RevisionRow,
    SplitRow,
    StatementRow,
)
from .facts import FactBook, snap_of
from .model import Assignment, DealFact, Line, PlanVersion, RuleError, StatementResult
from .money import ZERO, pct, to_decimal
from .periods import Period, PeriodError
from .plans import PlanError, check_shares, load_plan_text, plan_from_json, spec_to_json
from .registry import rule_registry

WILDCARD = "*"
PLUGIN = "incentives"


class IncentivesError(Exception):
    """Something the user asked for cannot be done (the message says why and what to do)."""


def _dec(v: Any) -> Any:
    return str(v) if isinstance(v, Decimal) else v


def lines_to_json(lines: Iterable[dict[str, Any]]) -> str:
    return json.dumps([{k: _dec(v) if k != "inputs" else {ik: _dec(iv) for ik, iv in v.items()}
                        for k, v in ln.items()} for ln in lines], default=str)


def _num(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return Decimal(v)
        except Exception:
            return v
    return v


_NUMERIC = {"share_pct", "basis", "rate", "exact", "amount"}


def lines_from_json(text: str) -> list[dict[str, Any]]:
    out = []
    for ln in json.loads(text):
        d = {k: (_num(v) if k in _NUMERIC else v) for k, v in ln.items()}
        d["inputs"] = {k: _num(v) if k in _INPUT_NUMERIC else v
                       for k, v in (d.get("inputs") or {}).items()}
        out.append(d)
    return out


_INPUT_NUMERIC = {"deal_amount", "credited", "quota", "at_pct", "earned", "draw",
                  "balance_before", "amount_per_deal", "due", "booked"}


def header_to_json(h: Mapping[str, Any]) -> str:
    return json.dumps({k: (_dec(v) if not isinstance(v, dict) else
                           {ik: _dec(iv) for ik, iv in v.items()}) for k, v in h.items()},
                      sort_keys=True, default=str)


def header_from_json(text: str) -> dict[str, Any]:
    h = json.loads(text)
    for k in ("quota", "credited", "attainment_pct", "team_credited", "team_quota",
              "team_attainment_pct"):
        if h.get(k) is not None:
            h[k] = Decimal(h[k])
    if isinstance(h.get("carry"), dict):
        h["carry"] = {k: Decimal(v) for k, v in h["carry"].items()}
    return h


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


def line_key(d: Mapping[str, Any]) -> tuple[Any, ...]:
    return (d.get("rule"), d.get("kind"), d.get("deal"), d.get("rep"), d.get("tier"),
            d.get("source_period"), d.get("amount"))


def diff_lines(old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]]
               ) -> dict[str, Any]:
    a = Counter(line_key(x) for x in old)
    b = Counter(line_key(x) for x in new)
    removed = a - b
    added = b - a

    def rows(c: Counter[tuple[Any, ...]]) -> list[dict[str, Any]]:
        out = []
        for k, n in sorted(c.items(), key=lambda kv: str(kv[0])):
            for _ in range(n):
                out.append({"rule": k[0], "kind": k[1], "deal": k[2], "rep": k[3], "tier": k[4],
                            "source_period": k[5], "amount": k[6]})
        return out

    return {"added": rows(added), "removed": rows(removed)}


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


class Incentives:
    """The incentives service for one tenant of an :class:`~attain.core.engine.Engine`."""

    def __init__(self, engine: Engine, tenant: str = "default") -> None:
        self.engine = engine
        self.tenant = tenant
        self.plugins = engine.plugins
        self.session = sessionmaker(engine.store.engine, expire_on_commit=False)
        self._calc: Calculator | None = None
        self._book: PlanBook | None = None
        self._facts: FactBook | None = None
        self._roster: dict[str, str | None] | None = None

    # -- registry ---------------------------------------------------------------------------

    def rule_types(self) -> list[dict[str, Any]]:
        types, owners = rule_registry(self.plugins)
        return [{"name": n, "description": t.description, "plugin": owners[n][0],
                 "plugin_version": owners[n][1], "roles": sorted(t.roles), "kind": t.kind,
                 "params": sorted(t.params.model_fields)} for n, t in sorted(types.items())]

    # -- generic helpers ----------------------------------------------------------------------

    def _audit(self, s: Session, action: str, actor: str | None = None, payee: str | None = None,
               period: str | None = None, **details: Any) -> None:
        s.add(AuditRow(tenant=self.tenant, at=db.now(), actor=actor, action=action, payee=payee,
                       period=period, details=json.dumps(details, default=str, sort_keys=True)))

    def _bump(self, s: Session) -> None:
        row = s.get(GenerationRow, self.tenant)
        if row is None:
            s.add(GenerationRow(tenant=self.tenant, value=1))
        else:
            row.value += 1
        self._calc = None
        self._book = None
        from .live import invalidate

        invalidate()

    def generation(self) -> int:
        with self.session() as s:
            row = s.get(GenerationRow, self.tenant)
            return row.value if row else 0

    def notify(self, kind: str, payload: dict[str, Any]) -> None:
        self.plugins.notify(self.tenant, kind, payload, self.engine,
                            self.engine.disabled(self.tenant))

    # -- plans --------------------------------------------------------------------------------

    def parse_plan(self, path: str | Path) -> tuple[PlanVersion, str]:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise PlanError(str(p), [(None, "", f"cannot read: {exc.strerror or exc}")]) from exc
        types, owners = rule_registry(self.plugins)
        return load_plan_text(text, str(p), types, owners), text

    def load_plan(self, path: str | Path, actor: str | None = None) -> PlanVersion:
        plan, text = self.parse_plan(path)
        return self.store_plan(plan, text, str(path), actor)

    def store_plan(self, plan: PlanVersion, source: str = "", source_name: str = "<plan>",
                   actor: str | None = None) -> PlanVersion:
        """Store a plan version (never overwriting one) and record its assignments and splits."""
        spec = plan.spec
        with self.session.begin() as s:
            rows = list(s.scalars(select(PlanVersionRow).where(
                PlanVersionRow.tenant == self.tenant, PlanVersionRow.name == plan.name)))
            same = [r for r in rows if r.checksum == plan.checksum]
            if spec.version is not None:
                clash = [r for r in rows if r.version == spec.version]
                if clash and clash[0].checksum != plan.checksum:
                    raise IncentivesError(
                        f"plan {plan.name!r} version {spec.version} is already stored with "
                        f"different content; history is never overwritten: set 'version: "
                        f"{max(r.version for r in rows) + 1}' (or remove 'version:')")
                same = clash or []
            if same:
                version = same[0].version
            else:
                version = spec.version or (max((r.version for r in rows), default=0) + 1)
                s.add(PlanVersionRow(
                    tenant=self.tenant, name=plan.name, version=version,
                    effective_from=plan.effective_from, effective_to=plan.effective_to,
                    period=plan.period, checksum=plan.checksum, spec=spec_to_json(spec),
                    source=source, source_name=source_name, created_at=db.now()))
                self._audit(s, "plan.stored", actor, plan=plan.name, version=version,
                            source=source_name)
            self._record_plan_assignments(s, plan, f"plan {plan.name} v{version}", actor)
            for sp in spec.splits:
                self._record_split(s, sp.deal, dict(sp.shares), f"plan {plan.name}", actor,
                                   only_if_changed=True)
            self._bump(s)
        return self.plan(plan.name, version)

    def _record_plan_assignments(self, s: Session, plan: PlanVersion, origin: str,
                                 actor: str | None) -> None:
        spec = plan.spec
        rows: list[tuple[str, dt.date | None, dt.date | None, Decimal | None]] = []
        if spec.payees == "all":
            rows.append((WILDCARD, plan.effective_from, plan.effective_to, None))
        else:
            rows.extend((p, plan.effective_from, plan.effective_to, None) for p in spec.payees)
        for a in spec.assignments:
            rows.append((a.rep, a.start or plan.effective_from, a.end or plan.effective_to,
                         a.quota))
        last = s.scalar(select(func.max(AssignmentRow.batch)).where(
            AssignmentRow.tenant == self.tenant))
        if last is not None:
            prev = {(r.payee, r.plan, r.start, r.end, r.quota) for r in s.scalars(
                select(AssignmentRow).where(AssignmentRow.tenant == self.tenant,
                                            AssignmentRow.batch == last))}
            if prev == {(p, plan.name, st, en, q) for p, st, en, q in rows}:
                return
        batch = (last or 0) + 1
        t = db.now()
        for payee, start, end, quota in rows:
            s.add(AssignmentRow(tenant=self.tenant, batch=batch, payee=payee, plan=plan.name,
                                start=start, end=end, quota=quota, origin=origin,
                                recorded_at=t))
        self._audit(s, "assignments.recorded", actor, plan=plan.name, batch=batch,
                    payees=[r[0] for r in rows])

    def plan_versions(self, name: str | None = None) -> list[dict[str, Any]]:
        with self.session() as s:
            q = select(PlanVersionRow).where(PlanVersionRow.tenant == self.tenant)
            if name:
                q = q.where(PlanVersionRow.name == name)
            return [{"plan": r.name, "version": r.version, "effective_from": r.effective_from,
                     "effective_to": r.effective_to, "period": r.period,
                     "checksum": r.checksum[:12], "source": r.source_name,
                     "stored_at": r.created_at}
                    for r in s.scalars(q.order_by(PlanVersionRow.name, PlanVersionRow.version))]

    def plan(self, name: str, version: int) -> PlanVersion:
        with self.session() as s:
            row = s.scalar(select(PlanVersionRow).where(
                PlanVersionRow.tenant == self.tenant, PlanVersionRow.name == name,
                PlanVersionRow.version == version))
        if row is None:
            raise IncentivesError(f"no plan {name!r} version {version}")
        types, owners = rule_registry(self.plugins)
        return plan_from_json(row.spec, row.version, types, owners,
                              f"{row.source_name} (stored v{row.version})")

    def _all_plans(self) -> dict[str, list[PlanVersion]]:
        types, owners = rule_registry(self.plugins)
        out: dict[str, list[PlanVersion]] = {}
        with self.session() as s:
            for r in s.scalars(select(PlanVersionRow).where(PlanVersionRow.tenant == self.tenant)):
                out.setdefault(r.name, []).append(
                    plan_from_json(r.spec, r.version, types, owners,
                                   f"{r.source_name} (stored v{r.version})"))
        return out

    # -- assignments ----------------------------------------------------------------------------

    def assign(self, payee: str, plan: str, start: dt.date | None = None,
               end: dt.date | None = None, quota: Decimal | None = None,
               actor: str | None = None) -> None:
        if start and end and end < start:
            raise IncentivesError("end is before start")
        with self.session.begin() as s:
            if not s.scalar(select(PlanVersionRow.id).where(
                    PlanVersionRow.tenant == self.tenant, PlanVersionRow.name == plan).limit(1)):
                raise IncentivesError(f"no plan named {plan!r}; load it first "
                                      "(attain commission plan load FILE)")
            last = s.scalar(select(func.max(AssignmentRow.batch)).where(
                AssignmentRow.tenant == self.tenant)) or 0
            s.add(AssignmentRow(tenant=self.tenant, batch=last + 1, payee=payee, plan=plan,
                                start=start, end=end, quota=quota, origin="assign",
                                recorded_at=db.now()))
            self._audit(s, "assignment.recorded", actor, payee=payee, plan=plan,
                        start=start, end=end, quota=quota)
            self._bump(s)

    def assignments(self, payee: str | None = None) -> list[dict[str, Any]]:
        with self.session() as s:
            q = select(AssignmentRow).where(AssignmentRow.tenant == self.tenant)
            if payee:
                q = q.where(AssignmentRow.payee.in_([payee, WILDCARD]))
            return [{"id": r.id, "batch": r.batch, "rep": r.payee, "plan": r.plan,
                     "start": r.start, "end": r.end, "quota": r.quota, "origin": r.origin,
                     "recorded_at": r.recorded_at}
                    for r in s.scalars(q.order_by(AssignmentRow.batch, AssignmentRow.id))]

    def plan_book(self) -> PlanBook:
        if self._book is None:
            with self.session() as s:
                recs = [AssignmentRec(r.id, r.batch, r.payee, r.plan, r.start, r.end, r.quota)
                        for r in s.scalars(select(AssignmentRow).where(
                            AssignmentRow.tenant == self.tenant))]
            self._book = PlanBook(self._all_plans(), recs)
        return self._book

    # -- splits ---------------------------------------------------------------------------------

    def _record_split(self, s: Session, deal_id: str, shares: dict[str, Decimal] | None,
                      origin: str, actor: str | None, only_if_changed: bool = False) -> None:
        if shares:
            check_shares(shares)
        body = json.dumps({k: str(v) for k, v in sorted((shares or {}).items())})
        if only_if_changed:
            cur = s.scalar(select(SplitRow.shares).where(
                SplitRow.tenant == self.tenant, SplitRow.deal_id == deal_id
            ).order_by(SplitRow.id.desc()).limit(1))
            if cur == body:
                return
        s.add(SplitRow(tenant=self.tenant, deal_id=deal_id, shares=body, origin=origin,
                       recorded_at=db.now()))
        self._audit(s, "split.recorded", actor, deal=deal_id, shares=body)

    def set_split(self, deal_id: str, shares: dict[str, Decimal] | None,
                  actor: str | None = None) -> None:
        try:
            with self.session.begin() as s:
                self._record_split(s, deal_id, shares, "split", actor)
                self._bump(s)
        except ValueError as exc:
            raise IncentivesError(f"split of {deal_id}: {exc}") from exc

    def splits(self) -> dict[str, Shares]:
        out: dict[str, Shares] = {}
        with self.session() as s:
            for r in s.scalars(select(SplitRow).where(SplitRow.tenant == self.tenant)
                               .order_by(SplitRow.id)):
                shares = json.loads(r.shares)
                if shares:
                    out[r.deal_id] = tuple((k, Decimal(v)) for k, v in shares.items())
                else:
                    out.pop(r.deal_id, None)
        return out

    # -- facts and the calculator -----------------------------------------------------------------

    def roster(self) -> dict[str, str | None]:
        if self._roster is None:
            dims = self.engine.dimensions(self.tenant)
            self._roster = {r.name: r.manager for r in dims.reps.values()}
        return self._roster

    def fact_book(self) -> FactBook:
        """Deal facts from the deals' latest snapshots plus, for deals that are no longer won,
        their earlier versions from the event log (to know when a won deal was lost)."""
        if self._facts is not None:
            return self._facts
        dims = self.engine.dimensions(self.tenant)
        book = FactBook({p.name: p.series for p in dims.products.values()})
        not_won: list[str] = []
        for d in self.engine.deals(self.tenant):
            book.add(d.deal_id, snap_of(d))
            if d.status != "won":
                not_won.append(d.deal_id)
        eng, t = self.engine, self.tenant
        had_won = {ev.deal_id for ev in eng.events(t, types=["deal"], entity_ids=not_won,
                                                     contains="won")
                   if isinstance(ev, DealEvent) and ev.status == "won"}
        if had_won:
            for ev in eng.events(t, types=["deal"], entity_ids=had_won):
                book.apply(ev)
        for ev in eng.events(t, types=["customer"], contains="churned"):
            book.apply(ev)
        self._facts = book
        return book

    def calculator(self) -> Calculator:
        if self._calc is None:
            book = self.fact_book()
            calc = Calculator(self.plan_book().resolve, self.roster(), book.churns)
            calc.load(book.facts(), self.splits())
            self._calc = calc
        return self._calc

    def refresh(self) -> None:
        """Forget cached inputs (after deals changed in another process)."""
        self._calc = None
        self._book = None
        self._facts = None
        self._roster = None

    # -- periods -----------------------------------------------------------------------------

    def locked_keys(self) -> set[str]:
        with self.session() as s:
            return set(s.scalars(select(PeriodRow.period).where(
                PeriodRow.tenant == self.tenant, PeriodRow.locked.is_(True))))

    def is_locked(self, period: Period, locked: set[str] | None = None) -> bool:
        keys = self.locked_keys() if locked is None else locked
        return period.key in keys or any(p.key in keys for p in period.parents())

    def first_open_after(self, period: Period, locked: set[str] | None = None) -> Period:
        keys = self.locked_keys() if locked is None else locked
        p = period.next()
        while self.is_locked(p, keys):
            p = p.next()
        return p

    def periods(self) -> list[dict[str, Any]]:
        with self.session() as s:
            locks = {r.period: r for r in s.scalars(select(PeriodRow).where(
                PeriodRow.tenant == self.tenant))}
            counts = dict(s.execute(select(StatementRow.period, func.count()).where(
                StatementRow.tenant == self.tenant).group_by(StatementRow.period)).all())
        keys = sorted(set(locks) | set(counts))
        return [{"period": k, "locked": bool(locks.get(k) and locks[k].locked),
                 "locked_at": locks[k].locked_at if k in locks else None,
                 "locked_by": locks[k].locked_by if k in locks else None,
                 "statements": counts.get(k, 0)} for k in keys]

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
        with self.session.begin() as s:
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
        with self.session.begin() as s:
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

    # -- workflow ---------------------------------------------------------------------------------------

    def approve(self, payee: str, period: Period, by: str) -> dict[str, Any]:
        manager = self.roster().get(payee)
        if manager and by != manager:
            raise IncentivesError(f"{payee}'s statement is approved by their manager "
                                  f"{manager}, not {by}")
        with self.session.begin() as s:
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
        with self.session.begin() as s:
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
        with self.session.begin() as s:
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
        with self.session.begin() as s:
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
        with self.session.begin() as s:
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
