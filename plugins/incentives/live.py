"""Live accruals: every deal event updates the commission accrued by the reps it concerns.

``attain_batch_processed`` is called by the engine after each batch commits, in the embedded
runner and in the Faust workers alike (both go through :meth:`attain.core.Engine.process`).

Design (correct with any number of writers, cost proportional to the new events)
--------------------------------------------------------------------------------
Per tenant with at least one plan assignment, a :class:`LiveBook` keeps the deal facts and the
calculator in memory, with the **event-log position** up to which it has folded the tenant's
events. After a batch, in ONE transaction that holds the tenant's write lock
(:meth:`attain.core.Store.transaction`, the lock every batch of that tenant takes):

1. the book reads the tenant's event log after its position (:meth:`Engine.events_after`):
   its own batch, and whatever other workers (or this process while the plugin was disabled for
   the tenant) committed meanwhile; events of its own batch are not parsed again;
2. each event folds into the facts (order-independent), the calculator re-indexes that deal and
   the statements of the affected payees for the affected periods are recomputed;
3. those accruals are upserted in the same transaction.

Because the log is read under the tenant's lock, nothing of that tenant commits in between: the
accruals written are those of every event committed so far, whichever worker writes last. A
tenant without plans costs one dictionary look-up per batch. Plans, assignments or splits
changed by another process are noticed through the tenant's generation (checked at most once a
second) and reload the book.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from attain.core import CustomerEvent, DealEvent, Engine, upsert
from sqlalchemy import Connection, inspect

from . import db
from .calc import Calculator
from .facts import day_of
from .model import RuleError
from .periods import Period

if TYPE_CHECKING:
    from .service import Incentives

log = logging.getLogger("attain.incentives.live")

RECHECK_SECONDS = 1.0
#: the event types whose events change accruals
TYPES = ("deal", "customer")

_lock = threading.RLock()
_books: dict[tuple[int, str], LiveBook] = {}
_epoch = 0


def invalidate() -> None:
    """Plans, assignments or splits changed in this process: reload books at the next event."""
    global _epoch
    with _lock:
        _epoch += 1


def accrual_rows(tenant: str, calc: Calculator, pairs: Iterable[tuple[str, Period]]) -> list[dict[str, Any]]:
    """The accrual rows of ``(payee, period)`` pairs, computed by ``calc``."""
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
    return rows


def save_accruals(conn: Connection, rows: list[dict[str, Any]]) -> None:
    upsert(conn, db.AccrualRow, rows, ("tenant", "payee", "period"),
           ("total", "credited", "deals", "plan", "plan_version", "updated_at"))


def write_accruals(engine: Engine, tenant: str, calc: Calculator,
                   pairs: Iterable[tuple[str, Period]]) -> int:
    """Recompute and upsert the accruals of ``(payee, period)`` pairs in one transaction."""
    rows = accrual_rows(tenant, calc, pairs)
    if rows:
        with engine.store.transaction(tenant) as conn:
            save_accruals(conn, rows)
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
        #: the event-log position up to which this book has folded the tenant's events
        self.position = 0
        # A database the plugin was never used on stays untouched (no tables are created).
        self.has_tables = _has_tables(engine)
        if not self.has_tables:
            return
        self.position = engine.log_position(tenant)  # before reading: nothing is missed
        self.svc = Incentives(engine, tenant)
        self.generation = self.svc.generation()
        self.fx = engine.rates(tenant).generation()  # new exchange rates reload the book
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
        return (self.svc.generation() != self.generation
                or self.engine.rates(self.tenant).generation() != self.fx)

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

    def catch_up(self, conn: Connection, known: dict[str, Any]) -> None:
        """Fold in every event of the tenant's log after :attr:`position` (inside ``conn``'s
        transaction, which holds the tenant's lock); ``known``: event id → the event, for the
        batch's own events (not parsed again)."""
        position, events = self.engine.events_after(self.tenant, self.position, types=TYPES,
                                                    known=known, conn=conn)
        self.position = position
        for ev in events:
            if isinstance(ev, DealEvent) or (isinstance(ev, CustomerEvent) and ev.kind == "churned"):
                self.on_event(ev, False)

    def flush(self, conn: Connection | None = None) -> int:
        """Recompute and write the pending accruals (once per batch), in ``conn``'s
        transaction or in one of their own."""
        if not self.pending or self.calc is None:
            return 0
        pairs, self.pending = self.pending, set()
        if conn is None:
            return write_accruals(self.engine, self.tenant, self.calc, pairs)
        rows = accrual_rows(self.tenant, self.calc, pairs)
        save_accruals(conn, rows)
        return len(rows)


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


def on_batch_processed(tenant: str, engine: Engine,
                       outcomes: Iterable[tuple[Any, str]] = ()) -> None:
    """Bring the tenant's live book up to its event log and write the accruals that changed,
    in one transaction under the tenant's lock (see the module's docstring)."""
    with _lock:
        book, fresh = book_for(engine, tenant)
        if not book.active:
            return
        known = {ev.event_id: ev for ev, outcome in outcomes if outcome != "duplicate"}
        with engine.store.transaction(tenant) as conn:
            book.catch_up(conn, known)  # a new book: what committed since it was read
            book.flush(conn)


def flush_all() -> None:
    """Write every pending accrual now."""
    with _lock:
        for book in _books.values():
            book.flush()


def reset() -> None:
    """Forget every live book (tests)."""
    with _lock:
        _books.clear()


atexit.register(flush_all)
