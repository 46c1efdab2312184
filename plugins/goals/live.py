"""Live re-evaluation: goals whose owner matches an accepted deal (or lead / activity) event are
re-evaluated, and a transition into at_risk / off_track is notified, as events arrive (embedded
runner or stream workers, which both go through :meth:`attain.core.engine.Engine.process`).

Keeping it cheap
----------------
* One ``attain_batch_processed`` call per batch and tenant (no per-event hook: those cost a
  Python call per event on every ingest). It notes the batch's latest event day.
* The first accepted deal or fact of a batch loads the tenant's goals once (nothing more happens for a
  tenant without goals, or a database where goals were never used).
* A goal is re-evaluated only if its KPI counts the event's type, its owner matches the event's
  rep (rep, the rep's manager or region from the roster, or company) and the event's day
  (closed_on for outcome goals; the UTC day of occurred_at for lead and activity events) is within its
  period, and at most once per batch: all events of a batch were committed together, so one
  evaluation sees them all.

The as-of day of a live evaluation is the tenant's event-time watermark (the latest event day seen,
setting ``clock: event``, the default) or today (``clock: wall``).

The hooks receive the engine that processes the batch, so the same code serves the embedded
runner and the stream workers.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from attain.core import Engine, PeriodMetric, utc_day
from attain.core.models import ActivityEvent, AnyEvent, DealEvent, LeadEvent

from .model import Goal
from .service import GoalService
from .storage import GoalRepo

log = logging.getLogger("attain.goals.live")

@dataclass
class TenantBatch:
    """What one batch needs for one tenant (built at its first accepted deal)."""

    service: GoalService | None = None
    as_of: dt.date | None = None
    company: list[Goal] = field(default_factory=list)
    by_owner: dict[tuple[str, str], list[Goal]] = field(default_factory=lambda: defaultdict(list))
    evaluated: set[str] = field(default_factory=set)
    transitions: list[dict[str, Any]] = field(default_factory=list)


class _State(threading.local):
    def __init__(self) -> None:
        self.tenants: dict[str, TenantBatch] = {}


_state = _State()


def on_batch(tenant: str, outcomes: Sequence[tuple[AnyEvent, str]], engine: Engine) -> None:
    """Re-evaluate the goals that the batch's accepted events of ``tenant`` can move."""
    st = _state
    st.tenants.pop(tenant, None)
    if not outcomes:
        return
    tb: TenantBatch | None = None
    for event, outcome in outcomes:
        if outcome != "accepted" or not isinstance(event, (DealEvent, LeadEvent, ActivityEvent)):
            continue
        if tb is None:
            tb = st.tenants[tenant] = _load(
                engine, tenant,
                lambda: max(utc_day(ev.occurred_at) for ev, _ in outcomes))  # event-time watermark
        if tb.service is None or tb.as_of is None:
            return  # no goals: nothing in this batch can concern one
        _consider(tb, event)


def _consider(tb: TenantBatch, event: DealEvent | LeadEvent | ActivityEvent) -> None:
    svc = tb.service
    assert svc is not None and tb.as_of is not None
    owner = event.owner  # a lead may have none: then only company goals can be concerned
    rep = svc.dims().reps.get(owner) if owner else None
    candidates = list(tb.company) + (tb.by_owner.get(("rep", owner), []) if owner else [])
    if rep is not None:
        if rep.region:
            candidates += tb.by_owner.get(("region", rep.region), [])
        if rep.manager:
            candidates += tb.by_owner.get(("manager", rep.manager), [])
    types = svc.goal_types()
    metrics = svc.metrics()
    todo = []
    for g in candidates:
        if g.id in tb.evaluated:
            continue
        m = metrics.get(g.metric)
        if m is not None and event.type not in m.events:
            continue  # e.g. a call cannot move a revenue goal
        if isinstance(m, PeriodMetric):  # state across events: an event of any day can move it
            tb.evaluated.add(g.id)
            todo.append(g)
            continue
        if isinstance(event, DealEvent):
            gt = types.get(g.kind)
            day = gt.date_of(event) if gt is not None else event.closed_on
        else:
            day = utc_day(event.occurred_at)  # facts count on their (UTC) day
        # A deal without a day may have been reopened: it can only matter to running goals.
        if g.period.contains(day) or (day is None and g.period.contains(tb.as_of)):
            tb.evaluated.add(g.id)
            todo.append(g)
    if todo:
        tb.transitions.extend(svc.check(tb.as_of, todo))


def _load(engine: Engine, tenant: str, batch_day: Callable[[], dt.date]) -> TenantBatch:
    repo = GoalRepo(engine.store.engine)
    goals = repo.all(tenant)
    if not goals:
        return TenantBatch()
    svc = GoalService(engine, tenant)
    if svc.settings.clock == "wall":
        as_of = dt.date.today()
    else:
        as_of = repo.advance_clock(tenant, batch_day())
    tb = TenantBatch(service=svc, as_of=as_of)
    for g in goals:
        o = g.owner_ref
        if o.kind == "company":
            tb.company.append(g)
        else:
            tb.by_owner[(o.kind, o.name or "")].append(g)
    return tb


def last_transitions(tenant: str) -> list[dict[str, Any]]:
    """Transitions found during the latest batch on this thread (for tests and diagnostics)."""
    tb = _state.tenants.get(tenant)
    return list(tb.transitions) if tb else []
