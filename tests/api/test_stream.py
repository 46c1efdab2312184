"""GET /api/v1/stream: changed KPI rows pushed after POST /api/v1/events, per tenant and scope."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
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
