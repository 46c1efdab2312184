"""What statements are computed from, for one tenant: plans and their versions, assignments,
deal splits, the deal facts and the calculator over them; the audit log and the generation
counter that tells live books to reload."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from attain.core import DealEvent, Engine
from attain.core.store import write_locked
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from . import db
from .calc import Calculator, Shares
from .db import (
    AssignmentRow,
    AuditRow,
    GenerationRow,
    PlanVersionRow,
    SplitRow,
)
from .facts import FactBook, snap_of
from .model import PlanVersion
from .planbook import WILDCARD, AssignmentRec, PlanBook
from .plans import PlanError, check_shares, load_plan_text, plan_from_json, spec_to_json
from .registry import rule_registry

PLUGIN = "incentives"


class IncentivesError(Exception):
    """Something the user asked for cannot be done (the message says why and what to do)."""


class Inputs:
    """Plans, assignments, splits, facts and the calculator of one tenant of an
    :class:`~attain.core.Engine`."""
    """The incentives service for one tenant of an :class:`~attain.core.engine.Engine`."""

    def __init__(self, engine: Engine, tenant: str = "default") -> None:
        self.engine = engine
        self.tenant = tenant
        self.plugins = engine.plugins
        self.session = sessionmaker(engine.store.engine, expire_on_commit=False)
        #: for the transactions that write: they read what they change, so they take the lock first
        self.write_session = sessionmaker(write_locked(engine.store.engine), expire_on_commit=False)
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
        with self.write_session.begin() as s:
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
        with self.write_session.begin() as s:
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
            with self.write_session.begin() as s:
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
        book = FactBook({p.name: p.series for p in dims.products.values()},
                        self.engine.rates(self.tenant))
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
