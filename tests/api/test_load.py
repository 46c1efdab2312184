"""A bounded loopback load test: 50 concurrent readers of the KPIs while events are posted in
batches; no request fails, and the final KPIs equal those of the embedded engine fed the same
events."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from attain.core import Engine, Record, Store, get_plugins, output
from attain.testing.builders import deal

from api.apikit import ROSTER, Api, LiveServer, acme_events, exact, ndjson

READERS = 50
BATCHES = 20
PER_BATCH = 25


def batches() -> list[list[dict]]:
    """Deal events of the three reps: new deals, and later versions of some (won, lost)."""
    out = []
    for b in range(BATCHES):
        events = []
        for i in range(PER_BATCH):
            n = b * PER_BATCH + i
            rep = ("Ann", "Bob", "Cid")[n % 3]
            if n % 5 == 4 and n >= 5:  # a later version of an earlier deal
                status = "won" if n % 2 else "lost"
                events.append(deal(f"L{n - 5}", version=2, owner=("Ann", "Bob", "Cid")[(n - 5) % 3],
                                   status=status, amount=f"{100 + n}.25", event_id=f"l{n}v2",
                                   occurred_at="2017-08-01T10:00:00Z"))
            else:
                events.append(deal(f"L{n}", owner=rep, status="open", amount=f"{100 + n}.25",
                                   event_id=f"l{n}"))
        out.append(events)
    return out


def test_readers_and_a_writer_at_once(api: Api, tmp_path: Path) -> None:
    work = batches()
    done = threading.Event()
    errors: list[str] = []
    reads = [0] * READERS
    with LiveServer(api.client.app) as live:
        limits = httpx.Limits(max_connections=READERS + 5)
        with httpx.Client(base_url=live.url, timeout=60, limits=limits) as http:
            def reader(i: int) -> None:
                who = ("admin", "meg", "ann")[i % 3]
                while not done.is_set() and reads[i] < 200:   # bounded: at most 200 reads each
                    r = http.get("/api/v1/kpis?by=rep", headers=api.auth(who))
                    if r.status_code != 200:
                        errors.append(f"{who}: {r.status_code} {r.text[:200]}")
                        return
                    reads[i] += 1

            def writer() -> None:
                try:
                    for events in work:
                        r = http.post("/api/v1/events", headers=api.auth("service"), content=ndjson(events))
                        if r.status_code != 200 or exact(r.content)["rejected"]:
                            errors.append(f"post: {r.status_code} {r.text[:200]}")
                finally:
                    done.set()

            with ThreadPoolExecutor(READERS + 1) as pool:
                futures = [pool.submit(reader, i) for i in range(READERS)] + [pool.submit(writer)]
                for f in futures:
                    f.result(timeout=600)
            final = exact(http.get("/api/v1/kpis?by=rep", headers=api.auth("admin")).content)
    assert errors == []
    assert all(n > 0 for n in reads)
    # the embedded engine, fed the same events in one go
    store = Store(f"sqlite:///{tmp_path / 'embedded.db'}")
    try:
        engine = Engine(store, get_plugins())
        engine.save_dimensions("acme", reps=ROSTER["acme"])
        everything = acme_events() + [e for events in work for e in events]
        engine.process([Record(json.dumps(e)) for e in everything], tenant="acme", default_tenant="acme")
        expected = {r["key"]: r for r in exact(output.dumps(engine.kpis("acme", "rep")))}
    finally:
        store.dispose()
    got = {r["key"]: r for r in final}
    assert set(got) == set(expected) == {"Ann", "Bob", "Cid"}
    for rep, row in got.items():
        assert row == {k: expected[rep].get(k) for k in row}, rep
