"""The webhook notifier when a receiver answers with a non-2xx status (a real local HTTP server
answering 500 or 404): what it returns, raises, logs and counts, and that the other receivers
and the goal's status are not affected."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from attain.core.engine import Engine, Record
from attain.core.models import Rep
from attain.core.plugins import Plugins
from attain.core.store import Store
from attain.plugins.goals.notify import WebhookError, send
from attain.plugins.goals.service import GoalService

from goals.goals_helpers import GoalsCli, won_event
from goals.webhook import Hook

PAYLOAD = {"id": "g", "status": "at_risk"}


def test_send_returns_the_receivers_that_accepted(hook: Hook) -> None:
    urls = [f"{hook.url}/a", f"{hook.url}/b"]
    assert send("default", "goal.at_risk", PAYLOAD, urls=urls, timeout=5) == urls
    assert [r["path"] for r in hook.received] == ["/a", "/b"]
    body = hook.received[0]["body"]
    assert (body["tenant"], body["kind"], body["payload"]) == ("default", "goal.at_risk", PAYLOAD)
    assert hook.received[0]["headers"]["X-Attain-Event"] == "goal.at_risk"


@pytest.mark.parametrize("code,reason", [(500, "Internal Server Error"), (404, "Not Found")])
def test_a_non_2xx_answer_is_an_error_naming_the_url_and_status(hook: Hook, code: int,
                                                                reason: str) -> None:
    bad, ok = f"{hook.url}/status/{code}", f"{hook.url}/ok"
    with pytest.raises(WebhookError) as info:
        send("acme", "goal.off_track", PAYLOAD, urls=[bad, ok], timeout=5)
    assert str(info.value) == (f"goal.off_track for tenant 'acme' not delivered to {bad}: "
                               f"HTTP {code} {reason}")
    # both were tried, in order: the failing one did not stop the other
    assert [r["path"] for r in hook.refused] == [f"/status/{code}"]
    assert [r["path"] for r in hook.received] == ["/ok"]
    with pytest.raises(WebhookError, match=f"to {bad}: HTTP {code} {reason}; {hook.url}/status/"
                       "500: HTTP 500 Internal Server Error$"):
        send("acme", "goal.off_track", PAYLOAD, urls=[bad, f"{hook.url}/status/500"], timeout=5)


@pytest.fixture
def engine(empty_url: str) -> Iterator[Engine]:
    store = Store(empty_url)
    engine = Engine(store, Plugins())
    engine.save_dimensions("default", reps=[Rep(name="Ann", manager="Meg", region="East")])
    try:
        yield engine
    finally:
        store.dispose()


def test_live_notification_refused_is_logged_and_counted(engine: Engine, hook: Hook,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture
                                                         ) -> None:
    refused = f"{hook.url}/status/500"
    monkeypatch.setenv("ATTAIN_GOALS_WEBHOOK_URL", f"{refused},{hook.url}/ok")
    svc = GoalService(engine, "default")
    svc.add({"id": "g", "metric": "won_revenue", "owner": "rep:Ann", "period": "2017-07",
             "target": 3100})
    caplog.set_level(logging.ERROR, logger="attain.plugins")
    # day 10: 900 of the 1,000 due (10/31 × 3,100) → score 0.9 → at_risk
    res = engine.process([Record(won_event(1, "Ann", dt.date(2017, 7, 10), 900))])
    assert (res.accepted, res.rejected) == (1, 0)
    assert [r["body"]["payload"]["status"] for r in hook.refused] == ["at_risk"]
    assert hook.kinds() == ["goal.at_risk"]  # the other receiver got it
    # the status change is stored all the same (no second notification for it)
    assert svc.repo.statuses("default") == {"g": "at_risk"}
    assert engine.plugins.errors[("goals", "attain_notify")] == 1
    counters = engine.store.counters("default")
    assert counters['attain_plugin_errors_total{plugin="goals",hook="attain_notify"}'] == 1
    (record,) = [r for r in caplog.records if r.getMessage() ==
                 "plugin 'goals' failed in attain_notify"]
    assert record.exc_info is not None and str(record.exc_info[1]) == (
        f"goal.at_risk for tenant 'default' not delivered to {refused}: "
        "HTTP 500 Internal Server Error")
    # the next event of the same day changes nothing: no notification, no new error
    engine.process([Record(won_event(2, "Ann", dt.date(2017, 7, 10), 0))])
    assert len(hook.refused) == 1 and engine.plugins.errors[("goals", "attain_notify")] == 1


def test_goals_check_reports_the_transition_when_the_webhook_refuses(
        goals_cli: GoalsCli, hook: Hook) -> None:
    goals_cli("goals", "config", "webhook_urls", f"{hook.url}/status/404")
    goals_cli("goals", "add", "--id", "q3", "--metric", "won_revenue", "--owner", "company",
              "--period", "2017-Q3", "--target", "3000000")
    res = goals_cli("goals", "check", "--as-of", "2017-08-15", "--format", "json")
    out: list[dict[str, Any]] = goals_cli.json("goals", "check", "--as-of", "2017-08-16",
                                               "--format", "json")
    assert res.exit_code == 0 and '"status": "at_risk"' in res.stdout
    assert out == []  # the status was stored despite the refused delivery
    assert [r["body"]["payload"]["id"] for r in hook.refused] == ["q3"] and hook.received == []
