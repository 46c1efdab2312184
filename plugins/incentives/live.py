"""Live accruals: every deal event updates the commission accrued by the reps it concerns.

``attain_batch_processed`` is called by the engine after each batch commits, in the embedded
runner and in the Faust workers alike (both go through :meth:`attain.core.engine.Engine.process`).
Per tenant with at least one plan assignment, a :class:`LiveBook` keeps the deal facts and the
calculator in memory; an event folds into the facts (order-independent), the calculator
re-indexes that one deal and the statements of the affected payees for the affected periods are
recomputed and written to ``incentives_accruals``, once per batch. Tenants without plans cost
one dictionary look-up per batch.

Which database? The hook receives the engine that processed the batch (``bind`` names one for
callers that have none).
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from attain.core.engine import Engine
from attain.core.models import CustomerEvent, DealEvent
from sqlalchemy import Table, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine as SAEngine

from . import db
from .calc import Calculator
from .facts import day_of
from .model import RuleError
from .periods import Period

if TYPE_CHECKING:
    from .service import Incentives

log = logging.getLogger("attain.incentives.live")

RECHECK_SECONDS = 1.0

_lock = threading.RLock()
_books: dict[tuple[int, str], LiveBook] = {}
_bound: Engine | None = None
_epoch = 0


def bind(engine: Engine | None) -> None:
    """Use ``engine`` for live accruals when the processing engine cannot be found."""
    global _bound
    _bound = engine


def invalidate() -> None:
    """Plans, assignments or splits changed in this process: reload books at the next event."""
    global _epoch
    with _lock:
        _epoch += 1


def write_accruals(sa_engine: SAEngine, tenant: str, calc: Calculator,
                   pairs: Iterable[tuple[str, Period]]) -> int:
    """Recompute and upsert the accruals of ``(payee, period)`` pairs in one transaction."""
    rows = []
    now = db.now()
    for payee, period in sorted(pairs, key=lambda x: (x[0], x[1].key)):
        try:
            res = calc.statement(payee, period)
        except RuleError as exc:
            log.warning("accrual of %s %s: %s", payee, period, exc)
            continue
        if res.plan is None:
            continue
        if res.deals == 0 and res.team_credited is None and "manager" in res.roles:
            continue  # a manager on a plan that pays reps only
        rows.append({"tenant": tenant, "payee": payee, "period": period.key, "total": res.total,
                     "credited": res.credited, "deals": res.deals, "plan": res.plan,
                     "plan_version": res.plan_version, "updated_at": now})
    if rows:
        t = cast(Table, db.AccrualRow.__table__)
        with sa_engine.connect() as conn, conn.begin():
            ins: Any = (postgresql.insert(t) if conn.dialect.name == "postgresql"
                        else sqlite.insert(t))
            conn.execute(ins.on_conflict_do_update(
                index_elements=["tenant", "payee", "period"],
                set_={c: getattr(ins.excluded, c) for c in
                      ("total", "credited", "deals", "plan", "plan_version", "updated_at")}),
                rows)
    return len(rows)


def _has_tables(engine: Engine) -> bool:
    return inspect(engine.store.engine).has_table(db.GenerationRow.__tablename__)


class LiveBook:
    """In-memory facts and calculator of one tenant, kept current by events."""

    svc: Incentives

    def __init__(self, engine: Engine, tenant: str) -> None:
        from .service import Incentives

        self.engine = engine
        self.tenant = tenant
        self.epoch = _epoch
        self.checked = time.monotonic()
        self.pending: set[tuple[str, Period]] = set()
        self.calc: Calculator | None = None
        self.active = False
        self.generation = 0
        #: the tenant's processed-events count (see :func:`processed_events`) once this book
        #: had folded in the last batch it was given; None until it has seen one
        self.processed: int | None = None
        # A database the plugin was never used on stays untouched (no tables are created).
        self.has_tables = _has_tables(engine)
        if not self.has_tables:
            return
        self.svc = Incentives(engine, tenant)
        self.generation = self.svc.generation()
        self.active = bool(self.svc.plan_book().by_payee)
        if self.active:
            self.calc = self.svc.calculator()

    def stale(self) -> bool:
        if self.epoch != _epoch:
            return True
        now = time.monotonic()
        if now - self.checked < RECHECK_SECONDS:
            return False
        self.checked = now
        if not self.has_tables:
            return _has_tables(self.engine)
        return self.svc.generation() != self.generation

    def on_event(self, event: Any, fresh: bool) -> None:
        """Fold the event in and remember which (payee, period) accruals it changes."""
        if not self.active or self.calc is None:
            return
        calc = self.calc
        facts = self.svc.fact_book()
        changed = facts.apply(event)
        if changed is None and not fresh:
            return
        dirty: set[str]
        if isinstance(event, DealEvent):
            old = calc.facts.get(event.deal_id)
            new = facts.fact(event.deal_id)
            if old == new and not fresh:
                return
            dirty = calc.upsert_deal(new) if new is not None else calc.remove_deal(event.deal_id)
        elif isinstance(event, CustomerEvent):
            dirty = calc.add_churn(event.account, day_of(event.occurred_at))
        else:
            return
        self._mark(dirty, set(calc.last_dates))

    def _mark(self, dirty: Iterable[str], dates: set[dt.date]) -> None:
        """Queue the accruals of ``dirty`` payees for the periods of ``dates``, plus the periods
        that depend on them: clawbacks of the payee's reversed deals, and every later period
        of a plan with a draw (the draw balance carries over)."""
        calc = self.calc
        assert calc is not None
        book = self.svc.plan_book()
        for payee in dirty:
            days = set(dates)
            for c in calc.reversal_candidates(payee):
                if c.deal.reversed_on is not None:
                    days.add(c.deal.reversed_on)
                days.update(t for t in calc.churns.get(c.deal.account or "", ())
                            if t >= c.deal.closed_on)
            for day in days:
                a = book.resolve(payee, Period.of(day, "month"))
                kind = a.plan.period if a is not None else "quarter"
                period = Period.of(day, kind)
                self.pending.add((payee, period))
                if a is not None and any(r.type.kind == "draw" for r in a.plan.rules):
                    months = calc.active_months(payee)
                    if months:
                        last = Period.of(months[-1].start, kind)
                        p = period.next()
                        while p <= last:
                            self.pending.add((payee, p))
                            p = p.next()

    def mark_all(self) -> None:
        """Queue every payee's accruals for every period with deals (a freshly loaded book
        already contains the events of the batch being reported)."""
        calc = self.calc
        if calc is None:
            return
        for payee in calc.payees() | self.svc.plan_book().payees():
            self._mark([payee], {m.start for m in calc.active_months(payee)})

    def flush(self) -> int:
        """Recompute and write the pending accruals (once per batch)."""
        if not self.pending or self.calc is None:
            return 0
        pairs, self.pending = self.pending, set()
        return write_accruals(self.engine.store.engine, self.tenant, self.calc, pairs)


#: the counters the engine bumps, in the batch's own transaction, for every valid event
PROCESSED_COUNTERS = ('attain_events_total{outcome="accepted"}',
                      'attain_events_total{outcome="duplicate"}',
                      'attain_events_total{outcome="stale"}')


def processed_events(engine: Engine, tenant: str) -> int:
    """How many valid events of ``tenant`` were processed so far, by any process."""
    counters = engine.store.counters(tenant)
    return sum(counters.get(k, 0) for k in PROCESSED_COUNTERS)


def book_for(engine: Engine, tenant: str, reload: bool = False) -> tuple[LiveBook, bool]:
    key = (id(engine.store.engine), tenant)
    with _lock:
        book = _books.get(key)
        if book is not None and book.engine is engine and not reload and not book.stale():
            return book, False
        old = book
        book = LiveBook(engine, tenant)
        if old is not None:
            book.pending |= old.pending
        book.mark_all()
        _books[key] = book
        return book, True


def _relevant(event: Any, outcome: str) -> bool:
    return outcome != "duplicate" and (
        isinstance(event, DealEvent)
        or (isinstance(event, CustomerEvent) and event.kind == "churned"))


def on_batch_processed(tenant: str, engine: Engine | None,
                       outcomes: Iterable[tuple[Any, str]] = ()) -> None:
    """Fold the batch's events into the tenant's live book, then write the accruals they
    changed in one transaction. A tenant without plans costs a look-up, not a pass over the
    batch."""
    engine = engine or _bound
    if engine is None:
        return
    with _lock:
        book, fresh = book_for(engine, tenant)
        if book.active:
            batch = list(outcomes)
            # Events this book was never given (processed by another process, or while the
            # plugin was disabled for the tenant) would leave its facts, hence the accruals it
            # writes, short: the tenant's event counters tell; the book is then reloaded.
            done = processed_events(engine, tenant)
            if not fresh and book.processed is not None \
                    and done != book.processed + len(batch):
                book, fresh = book_for(engine, tenant, reload=True)
            book.processed = done
            for ev, outcome in batch if book.active else ():
                if _relevant(ev, outcome):
                    book.on_event(ev, fresh)
                    fresh = False
        if book.pending:
            book.flush()


def flush_all() -> None:
    """Write every pending accrual now."""
    with _lock:
        for book in _books.values():
            book.flush()


def reset() -> None:
    """Forget every live book (tests)."""
    with _lock:
        _books.clear()
        bind(None)


atexit.register(flush_all)
