"""POST /api/v1/events: the same outcome as `attain ingest` (validation, dead letters, summary),
for the token's tenant; input limits are 4xx with a message, never a 500."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from attain.plugins.api.settings import ApiSettings
from attain.testing.builders import deal
from testkit import Cli

from api.apikit import Api, exact, make_api, ndjson

MIXED = [
    deal("N1", owner="Ann", status="won", amount="123.456", occurred_at="2017-06-01T09:00:00Z",
         event_id="n1"),
    {"type": "deal", "event_id": "n2"},                                   # invalid: dead letter
    deal("N1", owner="Ann", status="won", amount="123.456", occurred_at="2017-06-01T09:00:00Z",
         event_id="n1"),                                                   # a duplicate
    deal("N3", owner="Bob", status="open", amount="10", event_id="n3", tenant="globex"),  # other tenant
]


def test_a_json_array_counts_like_attain_ingest(api: Api, tmp_path: Path, make_cli) -> None:
    r = api.post("/api/v1/events", "service", content=json.dumps(MIXED).encode(),
                 headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    got = exact(r.content)
    # the same lines through `attain ingest --tenant acme` into an empty database
    path = tmp_path / "events.jsonl"
    path.write_bytes(ndjson(MIXED))
    other = make_cli(f"sqlite:///{tmp_path / 'ingest.db'}")
    line = other("ingest", str(path), "--tenant", "acme", "-q").stdout.strip()
    assert got["summary"] == line
    assert (got["accepted"], got["duplicates"], got["rejected"]) == (1, 1, 2)
    assert [x["source"] for x in got["rejections"]] == ["api:2", "api:4"]
    assert "tenant" in got["rejections"][1]["reason"]
    ann = {r["key"]: r for r in exact(api.get("/api/v1/kpis?by=rep", "admin").content)}["Ann"]
    assert ann["won_revenue"] == Decimal("1000.50") + Decimal("123.456")  # every digit kept
    assert exact(api.get("/api/v1/kpis?by=rep", "g-admin").content)[0]["key"] == "Zed"


def test_ndjson_with_a_broken_line_keeps_the_valid_ones(api: Api) -> None:
    body = ndjson([deal("N4", owner="Cid", status="won", amount="5", event_id="n4")]) + b"{oops\n\n"
    r = api.post("/api/v1/events", "admin", content=body, headers={"Content-Type": "application/x-ndjson"})
    got = exact(r.content)
    assert r.status_code == 200 and (got["accepted"], got["rejected"]) == (1, 1)
    assert got["rejections"][0]["source"] == "api:2" and "invalid JSON" in got["rejections"][0]["reason"]
    dead = exact(api.get("/api/v1/deadletters", "admin").content)
    assert [d["payload"] for d in dead] == ["{oops"]


@pytest.mark.parametrize("body", [b"[1, 2", b"[{\"type\": \"deal\"}", b"[" * 100000])
def test_a_malformed_json_array_is_400_and_stores_nothing(sqlite_api: Api, body: bytes) -> None:
    r = sqlite_api.post("/api/v1/events", "admin", content=body)
    assert r.status_code == 400 and "not a valid JSON array" in r.json()["detail"]
    assert exact(sqlite_api.get("/api/v1/deadletters", "admin").content) == []


def test_only_admin_and_service_tokens_publish(sqlite_api: Api) -> None:
    for who in ("meg", "ann"):
        r = sqlite_api.post("/api/v1/events", who, content=ndjson([deal("X", owner="Ann")]))
        assert r.status_code == 403
    assert sqlite_api.client.post("/api/v1/events", content=b"[]").status_code == 401


def test_limits(sqlite_url: str) -> None:
    settings = ApiSettings(max_body=2000, max_events=3)
    for api in make_api(sqlite_url, settings):
        big = b"[" + b" " * 3000 + b"]"
        r = api.post("/api/v1/events", "admin", content=big)
        assert r.status_code == 413 and "over 2000 bytes" in r.json()["detail"]

        def chunks():  # no Content-Length: the size is counted as the body arrives
            yield b"["
            for _ in range(10):
                yield b" " * 300
            yield b"]"
        r = api.post("/api/v1/events", "admin", content=chunks())
        assert r.status_code == 413, r.text
        four = [deal(f"L{i}", owner="Ann", event_id=f"l{i}") for i in range(4)]
        r = api.post("/api/v1/events", "admin", content=json.dumps(four).encode())
        assert r.status_code == 413 and "at most 3" in r.json()["detail"]
        r = api.post("/api/v1/events", "admin", content=ndjson(four))
        assert r.status_code == 413 and "more than 3" in r.json()["detail"]
        assert exact(api.get("/api/v1/kpis?by=rep", "admin").content) == Cli(sqlite_url).kpis("rep", "acme")
        engaging = {r["stage"]: r for r in exact(api.get("/api/v1/funnel", "admin").content)}["Engaging"]
        assert engaging["open_deals"] == 2  # A2 and C3 only: no L deal was stored


def test_an_empty_body_is_an_empty_summary(sqlite_api: Api) -> None:
    got = exact(sqlite_api.post("/api/v1/events", "admin", content=b"").content)
    assert got["summary"] == "accepted 0, duplicates 0, stale 0, conflicts 0, rejected 0"
