"""``attain plugins disable goals --tenant T``: while disabled, events of T re-evaluate no goal,
record no status and POST no notification (embedded: ``Engine.process`` and ``attain ingest``);
the other tenant is unaffected; re-enabled, T's goals see every event again."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from attain.core.engine import Engine, Record
from attain.core.models import Rep
from attain.core.plugins import Plugins
from attain.core.store import Store
from attain.plugins.goals import live
from attain.plugins.goals.service import GoalService
from attain.plugins.goals.storage import GoalRepo
from testkit import Cli

from goals.goals_helpers import won_event
from goals.webhook import Hook

D = Decimal
ACME, GLOBEX = "acme", "globex"


def july(day: int) -> dt.date:
    return dt.date(2017, 7, day)


@pytest.fixture
def url(empty_url: str, hook: Hook, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Two tenants with the same roster and the same goal: Ann's July revenue, 3,100 (100 a day
    keeps pace); every notification goes to the local webhook."""
    monkeypatch.setenv("ATTAIN_GOALS_WEBHOOK_URL", f"{hook.url}/hook")
    store = Store(empty_url)
    try:
        engine = Engine(store, Plugins())
        for t in (ACME, GLOBEX):
            engine.save_dimensions(t, reps=[Rep(name="Ann", manager="Meg", region="East")])
            GoalService(engine, t).add({"id": "g", "metric": "won_revenue", "owner": "rep:Ann",
                                        "period": "2017-07", "target": 3100})
    finally:
        store.dispose()
    yield empty_url


def statuses(url: str) -> dict[str, dict[str, str]]:
    store = Store(url)
    try:
        repo = GoalRepo(store.engine)
        return {t: repo.statuses(t) for t in (ACME, GLOBEX)}
    finally:
        store.dispose()


def test_disabled_goals_are_not_re_evaluated_nor_notified(url: str, hook: Hook,
                                                          tmp_path: Path) -> None:
    cli = Cli(url)
    out = cli("plugins", "disable", "goals", "--tenant", ACME).stdout
    assert out.strip() == "goals: disabled for tenant acme"
    listed = {p["name"]: p["enabled"] for p in cli.json("plugins", "list", "--tenant", ACME,
                                                        "--format", "json")}
    assert listed["goals"] is False
    assert {p["name"]: p["enabled"] for p in cli.json(
        "plugins", "list", "--tenant", GLOBEX, "--format", "json")}["goals"] is True

    # embedded, one batch for both tenants: day 10, 900 of the 1,000 due → at_risk
    store = Store(url)
    try:
        engine = Engine(store, Plugins())
        res = engine.process([Record(won_event(1, "Ann", july(10), 900, ACME)),
                              Record(won_event(2, "Ann", july(10), 900, GLOBEX))])
        assert (res.accepted, res.rejected) == (2, 0)
        assert [(t["id"], t["status"]) for t in live.last_transitions(GLOBEX)] == [
            ("g", "at_risk")]
        repo = GoalRepo(store.engine)
        assert (repo.clock(ACME), repo.clock(GLOBEX)) == (None, july(10))
        # the events themselves count for acme like for any tenant
        assert engine.kpis(ACME, "rep")[0]["won_revenue"] == 900
    finally:
        store.dispose()
    assert statuses(url) == {ACME: {}, GLOBEX: {"g": "at_risk"}}
    assert (hook.tenants(), hook.kinds()) == ([GLOBEX], ["goal.at_risk"])

    # attain ingest: day 13 brings nothing → 900 of 1,300 due = 0.69 → off_track
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(won_event(n, "Ann", july(13), 0, t)) + "\n"
                              for n, t in ((3, ACME), (4, GLOBEX))), encoding="utf-8")
    assert cli("ingest", str(events)).stdout.strip() == "accepted 2, duplicates 0, stale 0, conflicts 0, rejected 0"
    assert statuses(url) == {ACME: {}, GLOBEX: {"g": "off_track"}}
    assert (hook.tenants(), hook.kinds()) == ([GLOBEX, GLOBEX], ["goal.at_risk", "goal.off_track"])

    # enabled again: the next acme event evaluates the goal on every event so far
    assert cli("plugins", "enable", "goals", "--tenant", ACME).stdout.strip() == \
        "goals: enabled for tenant acme"
    events.write_text(json.dumps(won_event(5, "Ann", july(14), 0, ACME)) + "\n",
                      encoding="utf-8")
    cli("ingest", str(events))
    assert statuses(url) == {ACME: {"g": "off_track"}, GLOBEX: {"g": "off_track"}}
    assert hook.tenants() == [GLOBEX, GLOBEX, ACME]
    p = hook.received[-1]["body"]["payload"]
    # 900 of the 1,400 due by 14 July: attainment 900 / 3,100 = 0.2903, pace 14 / 31 = 0.4516,
    # score 0.64
    assert (p["status"], p["previous_status"], p["actual"], p["as_of"]) == (
        "off_track", None, 900, "2017-07-14")
    assert (p["attainment"], p["expected_attainment"]) == (D("0.2903"), D("0.4516"))
