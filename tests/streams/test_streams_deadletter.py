"""The dead-letter topic (attain.deadletter) against a real broker and worker: for every kind of
malformed event, the message key, the tenant, the exact reason, the original payload and the
source offset; the store's dead letters and counters agree. A message keyed for one tenant whose
event names another is not malformed: it is processed for the tenant it names."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from attain.core.store import Store

from .streamkit import StreamEnv, counters, outcomes, read_topic, write_lines

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.timeout(300),
    pytest.mark.filterwarnings("ignore:read_text is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:open_text is deprecated:DeprecationWarning"),
]


def deal(eid: str, did: str, status: str = "open", amount: str | None = None, tenant: str = "acme",
         **extra: Any) -> dict[str, Any]:
    ev = {"type": "deal", "tenant": tenant, "event_id": eid, "deal_id": did, "version": 1,
          "occurred_at": "2017-03-01T10:00:00Z", "owner": "Ann", "stage": status.title(), "status": status}
    if amount is not None:
        ev["amount"] = amount
    return {**ev, **extra}


def line(ev: dict[str, Any]) -> bytes:
    return json.dumps(ev).encode()


no_owner = deal("x2", "X2")
del no_owner["owner"]
# (line, the message key `attain publish` gives it, the reason). A line that is not a JSON object
# with an entity id has no key: its dead letter is the default tenant's.
MALFORMED: list[tuple[bytes, bytes | None, str]] = [
    (b'{"type": "deal", "tenant": "acme", "event_id": "j1", "deal_id": "J1",', None,
     "invalid JSON: EOF while parsing a value at line 1 column 69"),
    (b"not json at all", None, "invalid JSON: expected ident at line 1 column 2"),
    (b"[1, 2, 3]", None, "Input should be an object"),
    (line(no_owner), b"acme|X2", "owner: Field required"),
    (line(deal("x3", "X3", "won", "-5", closed_on="2017-03-01")), b"acme|X3",
     "amount: Input should be greater than or equal to 0"),
    (line(deal("x4", "X4", "pending")), b"acme|X4", "status: Input should be 'open', 'won', 'lost' or 'deleted'"),
    (line(deal("x5", "X5", "won", "10", engaged_on="2017-03-02", closed_on="2017-03-01")), b"acme|X5",
     "Value error, closed_on 2017-03-01 is before engaged_on 2017-03-02"),
    (line(deal("x6", "X6", "won", closed_on="2017-03-01")), b"acme|X6",
     "Value error, a won deal needs an amount (0 is allowed)"),
    (line({**deal("x7", "X7"), "type": "meeting"}), b"acme|X7",
     "Input tag 'meeting' found using 'type' does not match any of the expected tags: "
     "'deal', 'lead', 'activity', 'customer', 'cost', 'rep'"),
    (line(deal("x8", "X8", version=-1)), b"acme|X8", "version: Input should be greater than or equal to 0"),
    (line({"type": "lead", "event_id": "l1", "occurred_at": "2017-03-01T10:00:00Z", "kind": "mql"}), None,
     "lead_id: Field required"),
]
VALID = [line(deal("ok1", "OK1", "won", "10", closed_on="2017-03-01")), line(deal("ok2", "OK2")),
         line(deal("ok3", "OK3", tenant="default"))]


def test_every_malformed_kind_on_the_dead_letter_topic(stream: StreamEnv) -> None:
    url = stream.db()
    Store(url).dispose()  # the schema, for the polls below
    lines = [m[0] for m in MALFORMED] + VALID
    stream.attain(["publish", str(write_lines(stream.tmp / "events.jsonl", lines))])
    # A foreign producer's message keyed for acme, but whose event is globex's.
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=stream.bootstrap)
    misfiled = line(deal("x9", "X9", tenant="globex"))
    producer.send(stream.prefix + "attain.events", value=misfiled, key=b"acme|X9").get(timeout=60)
    producer.close()

    worker = stream.start_worker(url)
    keyed = sum(1 for _, key, _ in MALFORMED if key)
    # acme: 2 valid + 7 keyed malformed; default: 1 valid + 4 unkeyed; globex: the misfiled one.
    stream.wait("every event processed", lambda: (outcomes(url, "acme"), outcomes(url, "default"),
                                                  outcomes(url, "globex")) == (2 + keyed, 1 + 4, 1))
    topic = stream.prefix + "attain.deadletter"
    stream.wait("every dead letter on the topic", lambda: len(read_topic(stream.bootstrap, topic, idle=1)) == 11)

    where = {m.value: (m.partition, m.offset) for m in read_topic(stream.bootstrap, stream.prefix + "attain.events")}
    expected = {text.decode(): (key, {"tenant": "acme" if key else "default", "reason": reason,
                                      "payload": text.decode(),
                                      "source": "kafka:{}/{}@{}".format(stream.prefix + "attain.events", *where[text])})
                for text, key, reason in MALFORMED}
    got = {}
    for m in read_topic(stream.bootstrap, topic, idle=1):
        value = json.loads(m.value)
        stamp = dt.datetime.fromisoformat(value.pop("rejected_at").replace("Z", "+00:00"))
        assert stamp.tzinfo is not None and abs(dt.datetime.now(dt.UTC) - stamp) < dt.timedelta(hours=1)
        got[value["payload"]] = (m.key, value)
    assert got == expected

    # The store's dead letters, per tenant, are the same; the counters count them.
    store = Store(url)
    try:
        for tenant in ("acme", "default"):
            stored = {d.payload: {"tenant": tenant, "reason": d.reason, "payload": d.payload, "source": d.source}
                      for d in store.deadletters(tenant)}
            assert stored == {p: v for p, (_, v) in expected.items() if v["tenant"] == tenant}
        assert [d.deal_id for d in store_deals(url, "globex")] == ["X9"]
        assert [d.deal_id for d in store_deals(url, "acme")] == ["OK1", "OK2"]
    finally:
        store.dispose()
    assert counters(url, "acme") == {'attain_events_total{outcome="accepted"}': 2,
                                     'attain_events_total{outcome="rejected"}': keyed}
    assert counters(url, "default") == {'attain_events_total{outcome="accepted"}': 1,
                                        'attain_events_total{outcome="rejected"}': 4}
    assert counters(url, "globex") == {'attain_events_total{outcome="accepted"}': 1}
    assert worker.stop() == 0


def store_deals(url: str, tenant: str) -> list[Any]:
    from attain.core.engine import Engine

    store = Store(url)
    try:
        return sorted(Engine(store).deals(tenant), key=lambda d: d.deal_id)
    finally:
        store.dispose()
