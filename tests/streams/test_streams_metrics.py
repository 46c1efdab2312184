"""The worker's /metrics through prometheus-client: the contract's series (docs/metrics.md) and the
worker's own counters; promtool accepts the exposition. (The Kafka tests scrape a real worker.)"""

from __future__ import annotations

import json
import shutil
import subprocess

from attain.core import Engine, Record, Store, get_plugins
from attain.streams.metrics import Stats
from attain.testing.builders import deal
from prometheus_client.parser import text_string_to_metric_families
from testkit import missing_server


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_events_by_tenant_and_outcome(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    try:
        engine = Engine(store, get_plugins())
        stats = Stats()

        def batch(tenant: str, items: list) -> None:  # as the worker does: one call per tenant
            res = engine.process([Record(x if isinstance(x, str) else json.dumps(x)) for x in items],
                                 tenant=tenant, default_tenant=tenant)
            stats.add(res, len(items))
            stats.count_tenant(tenant, res)

        batch("t1", [deal("D1", owner="Ann", event_id="e1")])
        batch("t2", [deal("D2", owner="Bob", event_id="e2"), "{not json"])
        batch("t1", [deal("D1", owner="Ann", event_id="e1"),                 # duplicate
                     deal("D1", owner="Zoe", event_id="e1"),                 # conflict
                     deal("D1", version=0, owner="Ann", event_id="e9")])     # stale (v0 < v1)
        stats.observe_batch(0.25)
        text = stats.prometheus("app1", 7, {0: 5, 1: 3}, {("attain.events", 0): 12})
    finally:
        store.dispose()
    got = samples(text)

    def events(tenant: str, outcome: str) -> float | None:
        return got.get(("attain_events_total", (("outcome", outcome), ("tenant", tenant))))

    assert [events("t1", o) for o in ("accepted", "duplicate", "stale", "conflict", "rejected")] == [1, 1, 1, 1, 0]
    assert events("t2", "accepted") == 1 and events("t2", "rejected") == 1   # the broken line
    assert got[("attain_batch_duration_seconds_count", (("source", "worker"),))] == 1
    assert got[("attain_batch_duration_seconds_sum", (("source", "worker"),))] == 0.25
    assert got[("attain_consumer_lag", (("partition", "0"), ("topic", "attain.events")))] == 12
    assert got[("attain_stream_events_total", (("app", "app1"),))] == 6
    assert got[("attain_stream_batch_seconds_total", (("app", "app1"),))] == 0.25
    assert got[("attain_stream_next_offset", (("app", "app1"), ("partition", "1")))] == 3
    assert got[("attain_stream_table_keys", (("app", "app1"),))] == 7
    # a partition the worker no longer owns has no lag series at the next scrape
    assert "attain_consumer_lag{" not in stats.prometheus("app1", 7, {0: 5}, {})
    promtool = shutil.which("promtool")
    if promtool is None:
        missing_server("promtool is not installed: run `scripts/prometheus install`")
    proc = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
