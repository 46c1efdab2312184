"""At-risk transitions fire as events arrive and reach a real local webhook; a failing notifier
is isolated."""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from attain.core import hookimpl
from attain.core.engine import Engine, Record
from attain.core.models import Rep
from attain.core.plugins import Plugins
from attain.core.store import Store
from attain.plugins.goals import live
from attain.plugins.goals.service import GoalService

from goals.goals_helpers import GoalsCli
from goals.webhook import Hook

D = Decimal


@pytest.fixture
def live_engine(empty_url: str) -> Iterator[Engine]:
    """A fresh database with a two-rep roster and its own plugin manager."""
    store = Store(empty_url)
    engine = Engine(store, Plugins())
    engine.save_dimensions("default", reps=[Rep(name="Ann", manager="Meg", region="East"),
                                            Rep(name="Bob", manager="Max", region="West")])
    try:
        yield engine
    finally:
        store.dispose()


def won(n: int, owner: str, day: int, amount: int) -> dict[str, Any]:
    d = dt.date(2017, 7, day).isoformat()
    return {"type": "deal", "event_id": f"e{n}", "deal_id": f"d{n}", "version": 1,
            "owner": owner, "stage": "Won", "status": "won", "amount": amount,
            "engaged_on": "2017-06-01", "closed_on": d, "occurred_at": f"{d}T12:00:00Z"}


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def test_at_risk_transition_fires_the_webhook_live(live_engine: Engine, hook: Hook,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTAIN_GOALS_WEBHOOK_URL", hook.url + "/hook")
    GoalService(live_engine, "default").add(
        {"id": "ann-july", "metric": "won_revenue", "owner": "rep:Ann", "period": "2017-07",
         "target": 3100})  # 100 a day keeps pace exactly
    n = 0
    for day in range(1, 11):  # one batch per event, as a live stream delivers them
        n += 1
        live_engine.process([Record(won(n, "Ann", day, 100))])
    statuses = GoalService(live_engine, "default").repo.statuses("default")
    assert statuses == {"ann-july": "on_track"} and hook.received == []

    # day 11 brings nothing new: 1000 against 11/31 × 3100 = 1100 → score 0.909 → at_risk
    n += 1
    live_engine.process([Record(won(n, "Ann", 11, 0))])
    assert hook.kinds() == ["goal.at_risk"]
    post = hook.received[0]
    assert post["path"] == "/hook" and post["headers"]["X-Attain-Event"] == "goal.at_risk"
    body = post["body"]
    assert body["tenant"] == "default" and body["kind"] == "goal.at_risk"
    p = body["payload"]
    assert (p["id"], p["owner"], p["status"], p["previous_status"]) == (
        "ann-july", "rep:Ann", "at_risk", "on_track")
    assert p["actual"] == 1000 and p["target"] == 3100 and p["as_of"] == "2017-07-11"
    assert p["attainment"] == D("0.3226") and p["expected_attainment"] == D("0.3548")
    assert p["status_rule"].startswith("at_risk: score = attainment 0.3226 / pace 0.3548")

    # another rep's deal does not re-evaluate Ann's goal
    n += 1
    live_engine.process([Record(won(n, "Bob", 12, 5))])
    assert live.last_transitions("default") == [] and len(hook.received) == 1
    # still at risk on day 12 (score 0.83): no second notification
    n += 1
    live_engine.process([Record(won(n, "Ann", 12, 0))])
    assert len(hook.received) == 1
    # day 13: 1000 / 1300 = 0.77 → off_track
    n += 1
    live_engine.process([Record(won(n, "Ann", 13, 0))])
    assert hook.kinds() == ["goal.at_risk", "goal.off_track"]
    # a batch of several events is evaluated once, at the batch's latest event day
    batch = [Record(won(n + i, "Ann", 14 + i, 500)) for i in range(1, 4)]
    live_engine.process(batch)
    assert [t["as_of"] for t in live.last_transitions("default")] == [dt.date(2017, 7, 17)]
    assert GoalService(live_engine, "default").repo.statuses("default")["ann-july"] == "on_track"


class BadNotifier:
    @hookimpl
    def attain_notify(self, tenant: str, kind: str, payload: dict[str, Any]) -> None:
        raise RuntimeError("notifier down")


def test_a_failing_notifier_is_isolated(live_engine: Engine, hook: Hook,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    live_engine.plugins.register(BadNotifier(), name="bad-notifier")
    # one webhook URL refuses connections: the goals notifier fails after trying the other
    monkeypatch.setenv("ATTAIN_GOALS_WEBHOOK_URL",
                       f"http://127.0.0.1:{_closed_port()}/down, {hook.url}/ok")
    svc = GoalService(live_engine, "default")
    svc.add({"id": "g", "metric": "won_revenue", "owner": "region:East", "period": "2017-07",
             "target": 3100})
    live_engine.process([Record(won(1, "Ann", 10, 900))])  # 900 vs 1000 due → at_risk
    assert hook.kinds() == ["goal.at_risk"]  # delivered despite both failures
    # the bad notifier failed on both notifications of the change (goal.status_changed, then
    # goal.at_risk); the goals webhook notifier delivers the alert only, and failed once
    assert live_engine.plugins.errors[("bad-notifier", "attain_notify")] == 2
    assert live_engine.plugins.errors[("goals", "attain_notify")] == 1
    # and the event itself was processed normally
    assert live_engine.kpis("default", "rep")[0]["won_revenue"] == 900


def test_check_command_and_configured_webhook(goals_cli: GoalsCli, hook: Hook,
                                              tmp_path: Path) -> None:
    goals_cli("goals", "config", "webhook_urls", hook.url + "/cfg")
    res = goals_cli("goals", "config", "webhook_urls", "ftp://x", ok=False)
    assert res.exit_code == 2 and "not an http(s) URL" in res.stderr
    goals_cli("goals", "add", "--id", "q3", "--metric", "won_revenue", "--owner", "company",
              "--period", "2017-Q3", "--target", "3000000")
    out = goals_cli.json("goals", "check", "--as-of", "2017-08-15", "--format", "json")
    # 1,220,840 of 3,000,000 at 46/92 of the quarter → score 0.81 → at_risk
    assert [(t["id"], t["previous_status"], t["status"]) for t in out] == [
        ("q3", None, "at_risk")]
    assert hook.kinds() == ["goal.at_risk"] and hook.received[0]["path"] == "/cfg"
    assert goals_cli.json("goals", "check", "--as-of", "2017-08-15", "--format", "json") == []
    # events ingested through the CLI re-evaluate the goal live (clock: the latest event day)
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(won(900 + i, "Darcel Schlecht", 20 + i, 200000))
                                for i in range(3)) + "\n", encoding="utf-8")
    goals_cli("ingest", str(events))
    assert hook.kinds() == ["goal.at_risk"]  # back on track: no notification
    rows = goals_cli.json("goals", "progress", "q3", "--as-of", "2017-07-22", "--format", "json")
    assert rows[0]["status"] == "on_track"


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str | None, str]] = []

    @hookimpl
    def attain_notify(self, tenant: str, kind: str, payload: dict[str, Any]) -> None:
        self.seen.append((kind, payload["id"], payload["previous_status"], payload["status"]))


def test_every_status_change_is_notified_as_goal_status_changed(live_engine: Engine, hook: Hook,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """``goal.status_changed`` for every change (the first evaluation included), besides the
    ``goal.at_risk`` alert; the webhooks get the alert only. Goal g: won_revenue of East in
    2017-07 (31 days), target 3100, so 100 a day is due (Ann is in East)."""
    recorder = Recorder()
    live_engine.plugins.register(recorder, name="recorder")
    monkeypatch.setenv("ATTAIN_GOALS_WEBHOOK_URL", f"{hook.url}/hook")
    GoalService(live_engine, "default").add({"id": "g", "metric": "won_revenue", "owner": "region:East",
                                            "period": "2017-07", "target": 3100})
    live_engine.process([Record(won(1, "Ann", 10, 1000))])  # 1000 vs 1000 due by 07-10: on_track
    live_engine.process([Record(won(2, "Ann", 20, 0))])     # 1000 vs 2000 by 07-20: 0.5, off_track
    live_engine.process([Record(won(3, "Ann", 20, 700))])   # 1700 vs 2000: 0.85, at_risk
    assert recorder.seen == [("goal.status_changed", "g", None, "on_track"),
                             ("goal.status_changed", "g", "on_track", "off_track"),
                             ("goal.off_track", "g", "on_track", "off_track"),
                             ("goal.status_changed", "g", "off_track", "at_risk"),
                             ("goal.at_risk", "g", "off_track", "at_risk")]
    assert hook.kinds() == ["goal.off_track", "goal.at_risk"]
