"""The goals plugin's tables and upserts on every backend (SQLite and the real PostgreSQL
server)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from attain.core.engine import Engine, Record
from attain.core.models import Rep
from attain.core.plugins import Plugins
from attain.core.store import Store
from attain.plugins.goals.service import GoalService

D = Decimal


def test_goals_tables_and_upserts(empty_url: str, tmp_path: Path) -> None:
    store = Store(empty_url)
    try:
        engine = Engine(store, Plugins())
        engine.save_dimensions("default", reps=[Rep(name="Ann", manager="Meg", region="East"),
                                                Rep(name="Bob", manager="Meg", region="East")])
        svc = GoalService(engine, "default")
        svc.apply([{"id": "east", "metric": "won_revenue", "owner": "region:East",
                    "period": "2017-Q3", "target": "1000.01", "stretch": 1200,
                    "cascade": {"periods": "month", "owners": "rep"}}])
        goals = svc.goals()
        assert len(goals) == 1 + 3 + 6
        assert sum((g.target for g in goals if g.parent == "east"), D(0)) == D("1000.01")
        report = svc.set_target("east/2017-07", D("500"))
        assert report["gap"] == 0
        svc.repo.set_config("default", "achievable_factor", "2")
        assert svc.repo.config("default") == {"achievable_factor": "2"}
        day = dt.date(2017, 7, 20)
        engine.process([Record({
            "type": "deal", "event_id": "e1", "deal_id": "d1", "version": 1, "owner": "Ann",
            "stage": "Won", "status": "won", "amount": "100.50", "engaged_on": "2017-07-01",
            "closed_on": day.isoformat(), "occurred_at": f"{day}T10:00:00Z"})])
        assert svc.repo.clock("default") == day
        # only the goals whose owner and period match Ann's July deal were re-evaluated
        assert svc.repo.statuses("default") == {
            "east": "off_track", "east/2017-07": "off_track", "east/2017-07/rep-ann": "off_track"}
        rows = {r["id"]: r for r in GoalService(engine, "default").progress(day)}
        assert rows["east/2017-07/rep-ann"]["actual"] == D("100.50")
        assert svc.remove("east") == 10 and svc.goals() == []
    finally:
        store.dispose()
