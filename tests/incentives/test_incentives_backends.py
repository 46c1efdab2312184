"""The persistence paths on every backend (SQLite and the real PostgreSQL server): plan versions,
statements, locking with adjustments, workflow, inquiries and live accruals."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from attain.core.engine import Engine, Record
from attain.core.models import Rep
from attain.core.store import Store
from attain.plugins.incentives.periods import Period
from attain.plugins.incentives.service import Incentives

from .incentives_helpers import deal_event, make_plugins

D = Decimal
Q1, Q2 = Period.parse("2017-Q1"), Period.parse("2017-Q2")

PLAN = """plan: backend
effective_from: 2017-01-01
period: quarter
quota: 1000
rules:
  - id: tiers
    type: tiered
    tiers: [{to_pct: 100, rate: 4%}, {from_pct: 100, rate: 6%}]
  - {id: override, type: manager_override, rate: 1%}
  - {id: claw, type: clawback, within_days: 90}
"""


@pytest.fixture
def backend_engine(db_url: str) -> Iterator[Engine]:
    store = Store(db_url)
    try:
        yield Engine(store, make_plugins())
    finally:
        store.dispose()


def test_end_to_end_on_each_backend(backend_engine: Engine, tmp_path: Path) -> None:
    engine = backend_engine
    engine.save_dimensions("default", reps=[Rep(name="ann", manager="meg")])
    svc = Incentives(engine, "default")
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    assert svc.load_plan(plan).version == 1
    engine.process([Record(e) for e in (
        deal_event("a1", 1, "ann", "won", "800", "2017-01-10"),
        deal_event("a2", 1, "ann", "won", "500", "2017-02-10"),
    )], tenant="default")
    svc.refresh()
    out = {o.payee: o.total for o in svc.run(Q1)}
    assert out == {"ann": D("58.00"), "meg": D("13.00")}
    acc = {(a["rep"], a["period"]): a["total"] for a in svc.accruals()}
    assert acc == {("ann", "2017-Q1"): D("58.00"), ("meg", "2017-Q1"): D("13.00")}
    svc.approve("ann", Q1, by="meg")
    inq = svc.open_inquiry("ann", Q1, 1, "why?")
    svc.resolve_inquiry(inq["id"], "meg", reply="tier 1")
    svc.lock(Q1)
    engine.process([Record(deal_event("a2", 2, "ann", "lost", "0", "2017-04-01"))],
                   tenant="default")
    svc.refresh()
    svc.run(Q2)
    q2 = svc.statement("ann", Q2)
    assert [(ln["rule"], ln["amount"]) for ln in q2["lines"]] == [("claw", D("-26.00"))]
    assert svc.statement("ann", Q1)["total"] == D("58.00")
    assert svc.statement("meg", Q2)["total"] == D("-5.00")
    acc = {(a["rep"], a["period"]): a["total"] for a in svc.accruals()}
    assert acc[("ann", "2017-Q2")] == D("-26.00")
