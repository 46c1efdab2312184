"""GET /api/v1/stream: changed KPI rows pushed after POST /api/v1/events, per tenant and scope."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from attain.testing.builders import deal

from api.apikit import Api, LiveServer, exact, ndjson


def sse_events(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    event, data = "message", []
    for line in lines:
        if line == "":
            if data:
                yield event, exact("\n".join(data))
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def test_changed_rows_reach_the_subscribers_of_their_tenant(api: Api) -> None:
    timeout = httpx.Timeout(30.0)
    with LiveServer(api.client.app) as live, httpx.Client(base_url=live.url, timeout=timeout) as http:
        with http.stream("GET", "/api/v1/stream", headers=api.auth("cid")) as cid, \
                http.stream("GET", "/api/v1/stream", headers=api.auth("g-admin")) as globex:
            assert cid.status_code == 200 and cid.headers["content-type"].startswith("text/event-stream")
            cid_events = sse_events(cid.iter_lines())
            globex_events = sse_events(globex.iter_lines())
            assert next(cid_events) == ("ready", {"tenant": "acme", "role": "rep"})
            assert next(globex_events)[0] == "ready"
            ann = ndjson([deal("S1", owner="Ann", status="won", amount="99", event_id="s1")])
            assert http.post("/api/v1/events", headers=api.auth("service"), content=ann).status_code == 200
            cid_deal = ndjson([deal("S2", owner="Cid", status="won", amount="1", event_id="s2")])
            assert http.post("/api/v1/events", headers=api.auth("service"), content=cid_deal).status_code == 200
            zed = ndjson([deal("S3", owner="Zed", status="won", amount="1", event_id="s3")])
            assert http.post("/api/v1/events", headers=api.auth("g-service"), content=zed).status_code == 200
            # Cid's first pushed update is Cid's own row: Ann's change was not sent to Cid's token
            kind, data = next(cid_events)
            assert kind == "kpi" and data["by"] == "rep"
            assert [r["key"] for r in data["rows"]] == ["Cid"]
            assert data["rows"][0]["won_revenue"] == 4001    # C1 4000 + S2 1
            # globex's subscriber sees only globex's change
            kind, data = next(globex_events)
            assert [(r["key"], r["won_revenue"]) for r in data["rows"]] == [("Zed", Decimal("100000"))]
        r = http.get("/api/v1/stream", headers=api.auth("service"))
        assert r.status_code == 403
        assert http.get("/api/v1/stream").status_code == 401


def test_goal_status_changes_reach_the_subscribers_who_see_the_goal(api: Api) -> None:
    """Each POST /api/v1/events that changes a goal's status pushes an ``event: goal`` with the
    goal id, the previous and the new status, to the tokens that see the goal's owner.

    ``ann-may``: won_revenue of rep:Ann in 2017-05 (31 days), target 3100; the pace is the
    elapsed share of the month, the as-of day (the newest event day) included; Ann has A1, won
    1000.50 on 2017-05-10. Status: on_track if attainment ≥ 0.95 × pace, at_risk if ≥ 0.80 ×, else
    off_track (the goals plugin's default thresholds).

    1. S1 won 99.50 on 05-10: actual 1100, pace 10/31 (1000 due) → 1100/1000 = 1.10: on_track
       (the goal's first evaluation: previous_status null);
    2. S2 open, on 05-25: 1100 vs 2500 due → 0.44: off_track;
    3. S3 won 950 on 05-25: 2050 vs 2500 → 0.82: at_risk;
    4. S4 won 450 on 05-25: 2500 vs 2500 → 1.00: on_track.
    ``cid-may`` (rep:Cid, target 3100; C1 won 4000 on 05-03): with S5 on 05-25, 4000 vs 2500 due
    → 1.6: on_track.
    """
    from attain.plugins.goals import GoalService

    goals = GoalService(api.engine, "acme")
    for rep in ("Ann", "Cid"):
        goals.add({"id": f"{rep.lower()}-may", "metric": "won_revenue", "owner": f"rep:{rep}",
                   "period": "2017-05", "target": "3100"})
    posts = [deal("S1", owner="Ann", status="won", amount="99.50", occurred_at="2017-05-10T12:00:00Z",
                  event_id="s1"),
             deal("S2", owner="Ann", status="open", amount="10", occurred_at="2017-05-25T12:00:00Z",
                  event_id="s2"),
             deal("S3", owner="Ann", status="won", amount="950", occurred_at="2017-05-25T12:00:00Z",
                  event_id="s3"),
             deal("S4", owner="Ann", status="won", amount="450", occurred_at="2017-05-25T12:00:00Z",
                  event_id="s4")]
    want_ann = [(None, "on_track"), ("on_track", "off_track"), ("off_track", "at_risk"),
                ("at_risk", "on_track")]
    timeout = httpx.Timeout(30.0)
    with LiveServer(api.client.app) as live, httpx.Client(base_url=live.url, timeout=timeout) as http:
        with http.stream("GET", "/api/v1/stream", headers=api.auth("ann")) as ann, \
                http.stream("GET", "/api/v1/stream", headers=api.auth("meg")) as meg, \
                http.stream("GET", "/api/v1/stream", headers=api.auth("cid")) as cid, \
                http.stream("GET", "/api/v1/stream", headers=api.auth("g-admin")) as globex:
            streams = {who: sse_events(s.iter_lines()) for who, s in
                       (("ann", ann), ("meg", meg), ("cid", cid), ("globex", globex))}
            for events in streams.values():
                assert next(events)[0] == "ready"
            for ev in posts:
                r = http.post("/api/v1/events", headers=api.auth("service"), content=ndjson([ev]))
                assert r.status_code == 200 and r.json()["accepted"] == 1
            for who in ("ann", "meg"):  # Ann and her manager: every change of ann-may, in order
                got = [d for kind, d in _take(streams[who], "goal", 4)]
                assert [d["id"] for d in got] == ["ann-may"] * 4
                assert [(d["previous_status"], d["status"]) for d in got] == want_ann
                assert [d["actual"] for d in got] == [Decimal("1100.00"), Decimal("1100.00"),
                                                      Decimal("2050.00"), Decimal("2500.00")]
                assert got[-1]["owner"] == "rep:Ann" and got[-1]["as_of"] == "2017-05-25"
            cid_deal = deal("S5", owner="Cid", status="won", amount="1", occurred_at="2017-05-25T12:00:00Z",
                            event_id="s5")
            assert http.post("/api/v1/events", headers=api.auth("service"),
                             content=ndjson([cid_deal])).status_code == 200
            # Cid's stream: nothing of Ann's goal came before Cid's own row and goal
            kind, data = next(streams["cid"])
            assert kind == "kpi" and [r["key"] for r in data["rows"]] == ["Cid"]
            kind, data = next(streams["cid"])
            assert kind == "goal" and (data["id"], data["previous_status"], data["status"]) == (
                "cid-may", None, "on_track")
            # the other tenant's subscriber saw nothing: its next event is its own tenant's
            zed = ndjson([deal("S6", owner="Zed", status="won", amount="1", event_id="s6")])
            assert http.post("/api/v1/events", headers=api.auth("g-service"), content=zed).status_code == 200
            kind, data = next(streams["globex"])
            assert kind == "kpi" and [r["key"] for r in data["rows"]] == ["Zed"]
        # the stream's last status is the goals plugin's (GET /goals/progress at the same day)
        progress = http.get("/api/v1/goals/progress", params={"as_of": "2017-05-25"}, headers=api.auth("admin"))
        assert {g["id"]: g["status"] for g in progress.json()} == {"ann-may": "on_track", "cid-may": "on_track"}


def _take(events: Iterator[tuple[str, Any]], kind: str, n: int) -> list[tuple[str, Any]]:
    """The next ``n`` events of ``kind`` (the others, KPI rows, skipped)."""
    out = []
    while len(out) < n:
        item = next(events)
        if item[0] == kind:
            out.append(item)
    return out


def test_kpi_updates_messages_reach_the_reps_subscribers() -> None:
    """The attain.kpi-updates feed (``ATTAIN_API_KPI_UPDATES``; with a real worker:
    tests/streams/test_streams_api_feed.py): a message's ``rep`` rows go to the subscribers of its
    tenant, each getting the reps it sees; other groupings, tenants without subscribers and
    broken messages are skipped."""
    import asyncio
    import json

    from attain.plugins.api.kafka_feed import KafkaFeed
    from attain.plugins.api.scope import Scope
    from attain.plugins.api.settings import ApiSettings
    from attain.plugins.api.stream import Hub
    from attain.plugins.api.tokens import Principal

    hub = Hub()
    feed = KafkaFeed(hub, "127.0.0.1:1", "p.attain.kpi-updates")

    async def run() -> dict[str, list[tuple[str, Any]]]:
        ann = hub.subscribe(Scope(Principal("t1", "acme", "rep", rep="Ann"), frozenset({"Ann"})))
        admin = hub.subscribe(Scope(Principal("t2", "acme", "admin"), None))

        def msg(tenant: str, grouping: str, keys: list[str]) -> bytes:
            return json.dumps({"tenant": tenant, "grouping": grouping, "computed_at": "2026-01-01T00:00:00Z",
                               "offsets": {"0": 5}, "rows": [{"key": k, "won_revenue": 1.5} for k in keys]}).encode()

        for value in (msg("acme", "region", ["East"]), b"{broken", None, msg("globex", "rep", ["Zed"]),
                      msg("acme", "rep", ["Bob"]), msg("acme", "rep", ["Ann", "Bob"])):
            feed.deliver(value)
        out = {}
        for name, sub in (("ann", ann), ("admin", admin)):
            items = []
            while not sub.queue.empty():
                items.append(sub.queue.get_nowait())
            out[name] = items
        return out

    got = asyncio.run(run())
    assert got["ann"] == [("kpi", {"by": "rep", "rows": [{"key": "Ann", "won_revenue": Decimal("1.5")}]})]
    assert [[r["key"] for r in d["rows"]] for _, d in got["admin"]] == [["Bob"], ["Ann", "Bob"]]
    assert ApiSettings(topic_prefix="p.").kpi_topic == "p.attain.kpi-updates"


def test_the_kpi_updates_flag_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from attain.plugins.api.settings import ApiSettings

    monkeypatch.setenv("ATTAIN_API_KPI_UPDATES", "1")
    monkeypatch.setenv("ATTAIN_KAFKA_BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("ATTAIN_KAFKA_TOPIC_PREFIX", "prod.")
    s = ApiSettings.from_env()
    assert (s.kpi_updates, s.kafka_bootstrap, s.kpi_topic) == (True, "k1:9092,k2:9092", "prod.attain.kpi-updates")
    monkeypatch.setenv("ATTAIN_API_KPI_UPDATES", "0")
    assert ApiSettings.from_env().kpi_updates is False
    monkeypatch.setenv("ATTAIN_API_KPI_UPDATES", "maybe")
    with pytest.raises(ValueError, match="ATTAIN_API_KPI_UPDATES"):
        ApiSettings.from_env()
