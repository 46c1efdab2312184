"""Replaying deal events in any order, in any batches, with duplicates, gives the same
statements and the same live accruals, on every backend."""

from __future__ import annotations

import datetime as dt
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from attain.core.engine import Engine, Record
from attain.core.models import Rep
from attain.core.store import Store
from attain.plugins.incentives import live
from attain.plugins.incentives.periods import Period
from attain.plugins.incentives.service import Incentives
from backend_data import backend_params, empty_database
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from .incentives_helpers import churn_event, deal_event, make_plugins

PLAN = """plan: replay
period: quarter
quota: 2000
splits:
  - deal: d0
    shares: {ann: 70, cy: 30}
rules:
  - id: tiers
    type: tiered
    tiers: [{to_pct: 50, rate: 2%}, {from_pct: 50, to_pct: 100, rate: 5%}, {from_pct: 100, rate: 9%}]
  - {id: cap, type: cap, per_deal: 120}
  - id: override
    type: manager_override
    rate: 1%
  - {id: claw, type: clawback, within_days: 60}
"""
REPS = ["ann", "bob", "cy"]
QUARTERS = [Period.parse(q) for q in ("2017-Q1", "2017-Q2", "2017-Q3", "2017-Q4", "2018-Q1",
                                        "2018-Q2")]
PAYEES = ["ann", "bob", "cy", "meg", "tom"]


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Deals with a life: opened, won, then maybe lost, reopened or re-priced; one churn."""
    events: list[dict[str, Any]] = []
    for i in range(draw(st.integers(3, 8))):
        deal = f"d{i}"
        owner = draw(st.sampled_from(REPS))
        account = draw(st.sampled_from(["acme", "globex", "initech"]))
        amount = Decimal(draw(st.integers(1, 300_000))).scaleb(-2)
        closed = dt.date(2017, 1, 1) + dt.timedelta(days=draw(st.integers(0, 300)))
        events.append(deal_event(deal, 1, owner, "open", account=account))
        events.append(deal_event(deal, 2, owner, "won", amount, closed.isoformat(),
                                 account=account))
        fate = draw(st.sampled_from(["keep", "lost", "reopened", "repriced"]))
        later = closed + dt.timedelta(days=draw(st.integers(1, 120)))
        if fate == "lost":
            events.append(deal_event(deal, 3, owner, "lost", "0", later.isoformat(),
                                     account=account))
        elif fate == "reopened":
            events.append(deal_event(deal, 3, owner, "open", account=account,
                                     occurred=later.isoformat()))
        elif fate == "repriced":
            events.append(deal_event(deal, 3, owner, "won", amount * 2, closed.isoformat(),
                                     account=account))
    churn_day = dt.date(2017, 1, 1) + dt.timedelta(days=draw(st.integers(0, 364)))
    events.append(churn_event("acme", churn_day.isoformat()))
    return events


def replay(backend: str, events: list[dict[str, Any]], batch_sizes: list[int]
           ) -> tuple[dict[Any, Any], dict[Any, Any]]:
    live.reset()
    with tempfile.TemporaryDirectory() as tmp, empty_database(backend, Path(tmp)) as url:
        store = Store(url)
        try:
            engine = Engine(store, make_plugins())
            engine.save_dimensions("default", reps=[
                Rep(name="ann", manager="meg"), Rep(name="bob", manager="meg"),
                Rep(name="cy", manager="tom")])
            svc = Incentives(engine, "default")
            plan_file = Path(tmp) / "plan.yaml"
            plan_file.write_text(PLAN)
            svc.load_plan(plan_file)
            i = 0
            sizes = batch_sizes or [len(events)]
            k = 0
            while i < len(events):
                n = max(1, sizes[k % len(sizes)])
                engine.process([Record(e) for e in events[i:i + n]], tenant="default")
                i += n
                k += 1
            svc.refresh()
            statements = {}
            for payee in PAYEES:
                for q in QUARTERS:
                    comp = svc.compute(payee, q)
                    statements[(payee, q.key)] = (comp.total, [
                        (d["rule"], d["deal"], d["rep"], d["tier"], d["amount"])
                        for d in comp.lines])
            accruals = {(a["rep"], a["period"]): a["total"] for a in svc.accruals()}
        finally:
            store.dispose()
            live.reset()
    return statements, accruals


# No shrinking phase: a failure prints its (unshrunk) example instead of spending minutes.
@pytest.mark.parametrize("backend", backend_params())
@settings(max_examples=12, deadline=None, phases=(Phase.explicit, Phase.reuse, Phase.generate),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(events=histories(), data=st.data())
def test_any_order_any_batches_same_statements(backend: str, events: list[dict[str, Any]],
                                               data: st.DataObject) -> None:
    canonical = replay(backend, events, [len(events)])
    shuffled = data.draw(st.permutations(events))
    dupes = data.draw(st.lists(st.sampled_from(events), max_size=5))
    sizes = data.draw(st.lists(st.integers(1, 6), min_size=1, max_size=4))
    statements, accruals = replay(backend, list(shuffled) + dupes, sizes)
    assert statements == canonical[0]
    # live accruals (built event by event, in either order) agree with the statements: every
    # accrual written is current, and every non-zero statement has its accrual
    for stmts, accs in (canonical, (statements, accruals)):
        for key, total in accs.items():
            assert stmts[key][0] == total, key
        assert {k: v for k, v in accs.items() if v} == {k: v[0] for k, v in stmts.items() if v[0]}
