"""Hostile input on the stream: the worker dead-letters what the store cannot hold (issue 11),
records reused event ids as conflicts, keeps the bytes of non-UTF-8 messages, and every valid
event still counts: the worker's KPIs equal those of `attain ingest` on the same lines."""

from __future__ import annotations

import base64
import json

import pytest
from attain.core.engine import CONFLICT_REASON
from attain.core.store import Store

from .streamkit import StreamEnv, counters, kpis_of, outcomes, read_topic, write_lines

pytestmark = pytest.mark.kafka


def _deal(i: int, **extra: object) -> dict[str, object]:
    return {"type": "deal", "event_id": f"e{i}", "deal_id": f"D{i}", "version": 1,
            "occurred_at": "2017-03-01T10:00:00Z", "owner": f"R{i % 4}", "stage": "Won",
            "status": "won", "amount": f"{i}.50", "closed_on": "2017-03-01", **extra}


def test_unstorable_events_and_conflicts_on_the_stream(stream: StreamEnv) -> None:
    good = [json.dumps(_deal(i)).encode() for i in range(300)]
    hostile = {
        "big version": json.dumps(_deal(1000, event_id="big", version=2**63)).encode(),
        "long owner": json.dumps(_deal(1001, event_id="long", owner="o" * 300)).encode(),
        "no UTC day": json.dumps(_deal(1002, event_id="old",
                                       occurred_at="0001-01-01T00:00:00+05:00")).encode(),
        "not UTF-8": b'{"type":"deal","event_id":"\xff\xfe","owner":"caf\xe9"}',
        "conflict": json.dumps(_deal(5, deal_id="OTHER", amount="999")).encode(),  # reuses e5
    }
    lines = good[:150] + list(hostile.values()) + good[150:]
    path = write_lines(stream.tmp / "events.jsonl", lines)
    url = stream.db()
    Store(url).dispose()  # the schema, before the wait below reads the counters
    worker = stream.start_worker(url)
    stream.attain(["publish", str(path)])
    stream.wait("every message processed", lambda: outcomes(url, "default") >= len(lines))

    # the same lines through the embedded engine
    embedded = stream.db("embedded")
    stream.attain(["--db", embedded, "ingest", str(path)])
    assert kpis_of(url, "default") == kpis_of(embedded, "default")
    c = counters(url, "default")
    assert c['attain_events_total{outcome="accepted"}'] == 300
    assert c['attain_events_total{outcome="rejected"}'] == 4
    assert c['attain_events_total{outcome="conflict"}'] == 1

    letters = [json.loads(m.value) for m in read_topic(stream.bootstrap,
                                                        stream.prefix + "attain.deadletter")]
    reasons = {d["payload"]: d["reason"] for d in letters}
    text = {k: v.decode("utf-8", "replace") for k, v in hostile.items()}
    assert len(letters) == 5
    assert reasons[text["big version"]] == ("version: Input should be less than or equal to "
                                            "9223372036854775807")
    assert reasons[text["long owner"]] == "owner: String should have at most 200 characters"
    assert reasons[text["no UTC day"]] == ("occurred_at: Value error, date and time out of range "
                                           "once converted to UTC")
    assert reasons[text["not UTF-8"]].startswith("invalid JSON: ")
    [non_utf8] = [d for d in letters if "payload_base64" in d]
    assert base64.b64decode(non_utf8["payload_base64"]) == hostile["not UTF-8"]
    assert reasons[text["conflict"]] == CONFLICT_REASON

    store = Store(url)
    try:
        raw = {d.payload: d.raw for d in store.deadletters("default")}
    finally:
        store.dispose()
    assert raw[text["not UTF-8"]] == hostile["not UTF-8"]  # the message's bytes, exactly
    assert worker.stop() == 0


def test_rows_a_connector_rejects_are_dead_letters_of_the_worker_too(stream: StreamEnv) -> None:
    """`attain publish crm-csv` sends the rows the connector itself rejects (a row cut short, a
    date that is not one) as rejections: the worker dead-letters them with the connector's reason
    and line, and the KPIs equal `attain import` of the same export."""
    import shutil

    from .streamkit import BUNDLED_EVENTS, DATA

    root = stream.tmp / "export"
    shutil.copytree(DATA, root)
    pipeline = root / "sales_pipeline.csv"
    lines = pipeline.read_text().split("\n")
    lines[2] = lines[2].replace("2017-03-11", "0", 1)             # line 3: Z063OYW0, won
    assert lines[-1] == ""
    lines[-2] = lines[-2][:lines[-2].rindex(",")]                  # the last row, cut short
    pipeline.write_text("\n".join(lines))
    last = len(lines) - 1

    url = stream.db()
    Store(url).dispose()
    worker = stream.start_worker(url)
    stream.attain(["--db", url, "publish", "crm-csv", str(root)])
    embedded = stream.db("embedded")
    imported = stream.attain(["--db", embedded, "import", "-q", "crm-csv", str(root)])
    accepted = int(imported.stdout.split()[1].rstrip(","))
    assert accepted < BUNDLED_EVENTS
    stream.wait("every message processed", lambda: outcomes(url, "default") >= accepted + 2)
    assert kpis_of(url, "default") == kpis_of(embedded, "default")
    store = Store(url)
    try:
        letters = sorted((d.source.split(" ")[0], d.reason) for d in store.deadletters("default"))
    finally:
        store.dispose()
    assert letters == sorted([
        ("sales_pipeline.csv:3", "close_date: '0' is not a date (YYYY-MM-DD)"),
        (f"sales_pipeline.csv:{last}", "truncated row: expected 8 fields, got 7"),
    ])
    assert worker.stop() == 0
