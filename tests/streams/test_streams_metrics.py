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


def test_plugin_errors_and_event_to_kpi_latency() -> None:
    """``attain_plugin_errors_total{tenant,plugin,hook}``: every loaded hook's series of a tenant
    exists at 0 from its first batch on, failures add up per tenant; ``attain_event_to_kpi_seconds``:
    one observation per event, published − produced (never negative)."""
    from attain.core import Result

    stats = Stats()
    stats.hooks = [("goals", "attain_batch_processed"), ("incentives", "attain_batch_processed")]
    stats.count_tenant("t1", Result(accepted=2))
    stats.count_plugin_errors("t1", {("goals", "attain_batch_processed"): 2, ("flaky", "contribute"): 1})
    stats.count_tenant("t2", Result(accepted=1))
    stats.count_plugin_errors("t2", {("flaky", "contribute"): 3})
    stats.count_plugin_errors("t2", {("flaky", "contribute"): 0})
    stats.observe_event_to_kpi([100.0, 99.5, 98.0], published=100.25)   # 0.25, 0.75, 2.25
    stats.observe_event_to_kpi([101.0], published=100.0)                 # a clock ahead: 0
    text = stats.prometheus("app1", 0, {})
    got = samples(text)

    def errors(tenant: str, plugin: str, hook: str) -> float | None:
        return got.get(("attain_plugin_errors_total", (("hook", hook), ("plugin", plugin), ("tenant", tenant))))

    assert errors("t1", "goals", "attain_batch_processed") == 2
    assert errors("t1", "incentives", "attain_batch_processed") == 0   # created at 0
    assert errors("t2", "goals", "attain_batch_processed") == 0
    assert errors("t1", "flaky", "contribute") == 1 and errors("t2", "flaky", "contribute") == 3
    hist = {dict(labels).get("le"): v for (name, labels), v in got.items()
            if name.startswith("attain_event_to_kpi_seconds")}
    assert got[("attain_event_to_kpi_seconds_count", ())] == 4
    assert got[("attain_event_to_kpi_seconds_sum", ())] == 0.25 + 0.75 + 2.25 + 0
    assert hist["0.005"] == 1 and hist["0.25"] == 2 and hist["0.75"] == 3 and hist["2.5"] == 4
    assert hist["+Inf"] == 4
    promtool = shutil.which("promtool")
    if promtool is None:
        missing_server("promtool is not installed: run `scripts/prometheus install`")
    proc = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_accepted_events_kafka_timestamps() -> None:
    """Faust's messages carry their Kafka timestamp in seconds, aiokafka's records in
    milliseconds; each accepted event's timestamp is taken once, by its event id."""
    from types import SimpleNamespace

    from attain.streams.messages import accepted_times, produced_at

    assert produced_at(SimpleNamespace(timestamp=1700000000.5)) == 1700000000.5   # Faust: seconds
    assert produced_at(SimpleNamespace(timestamp=1700000000500)) == 1700000000.5  # aiokafka: ms
    assert produced_at(SimpleNamespace(timestamp=None)) is None
    assert produced_at(SimpleNamespace(timestamp=-1)) is None                      # no timestamp
    recs = [Record(json.dumps(deal("D1", event_id="e1")), source="k@0"),
            Record(json.dumps(deal("D1", event_id="e1")), source="k@1"),   # its duplicate
            Record("{not json", source="k@2"),
            Record(json.dumps(deal("D2", event_id="e2")), source="k@3"),
            Record(json.dumps(deal("D3", event_id="e3")), source="k@4"),   # stale, say
            Record(json.dumps(deal("D4", event_id="e4")), source="k@5", reason="the connector's")]
    produced = {f"k@{i}": 10.0 + i for i in range(6)}
    assert accepted_times(recs, {"e1": 1, "e2": 1, "e4": 1}, produced) == [10.0, 13.0]
    assert accepted_times(recs, {}, produced) == []
