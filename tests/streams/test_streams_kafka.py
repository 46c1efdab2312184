"""End-to-end stream tests against the real broker: ``attain publish`` → ``attain worker`` (a real
subprocess) → the SQL store, compared with the embedded engine (``attain import crm-csv``)."""

from __future__ import annotations

import io
import json
import os
import random
import re
import uuid
from decimal import Decimal

import pytest
from attain.core.engine import Engine
from attain.core.kpi import GROUPINGS
from attain.core.store import Store
from testkit import postgres_base_url, postgres_database

from .streamkit import (
    BUNDLED_EVENTS,
    DATA,
    StreamEnv,
    bundled_lines,
    commit_group_offsets,
    counters,
    end_offsets,
    event_id,
    events_stored,
    free_port,
    install_flaky_plugin,
    kpis_of,
    list_topics,
    outcomes,
    read_topic,
    run_attain,
    save_bundled_dimensions,
    scrape,
    stored_offsets,
    write_lines,
)

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.timeout(300),
    # kafka-python 3.0 reads its protocol schemas with importlib.resources' legacy API
    pytest.mark.filterwarnings("ignore:read_text is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:open_text is deprecated:DeprecationWarning"),
]

ACCEPTED = 'attain_events_total{outcome="accepted"}'

def assert_same_kpis(got: dict[str, list[dict[str, object]]], want: dict[str, list[dict[str, object]]]) -> None:
    for g in GROUPINGS:
        assert got[g] == want[g], f"KPIs by {g} differ"


def last_published_rows(s: StreamEnv, tenant: str) -> dict[str, dict[object, dict[str, object]]]:
    """The newest row per grouping and key on attain.kpi-updates, shaped like ``Engine.kpis`` rows."""
    last: dict[str, dict[object, dict[str, object]]] = {g: {} for g in GROUPINGS}
    for m in read_topic(s.bootstrap, s.prefix + "attain.kpi-updates", idle=1.5):
        upd = json.loads(m.value, parse_float=Decimal)
        assert m.key.decode() == f"{upd['tenant']}|{upd['grouping']}"
        if upd["tenant"] == tenant:
            for row in upd["rows"]:
                last[upd["grouping"]][row["key"]] = row
    return last


def test_bundled_data_set_gives_the_embedded_kpis(stream: StreamEnv, embedded_kpis: dict) -> None:
    url = stream.db()
    pub = stream.attain(["--db", url, "publish", "crm-csv", str(DATA)])
    assert f"published {BUNDLED_EVENTS} events" in pub.stdout
    worker = stream.start_worker(url)
    stream.wait("every event processed", lambda: outcomes(url, "default") >= BUNDLED_EVENTS)
    assert_same_kpis(kpis_of(url, "default"), embedded_kpis)
    assert counters(url, "default")[ACCEPTED] == BUNDLED_EVENTS
    assert worker.assignments() and worker.assignments()[-1] == [0, 1, 2, 3]

    # attain.kpi-updates: the newest row of every key equals the final KPIs, for every grouping.
    want = {g: {r["key"]: r for r in rows} for g, rows in embedded_kpis.items()}
    stream.wait("the KPI updates to catch up", lambda: last_published_rows(stream, "default") == want,
                timeout=60)

    # follow_kpis (what `attain kpi --follow` runs) prints them as JSON Lines.
    from attain.streams.config import StreamConfig
    from attain.streams.follow import follow_kpis

    buf = io.StringIO()
    cfg = StreamConfig.from_env().with_(bootstrap=stream.bootstrap, topic_prefix=stream.prefix)
    assert follow_kpis("default", "rep", "json", from_beginning=True, max_rows=5, timeout=30,
                       out=buf, cfg=cfg) == 5
    rows = [json.loads(line, parse_float=Decimal) for line in buf.getvalue().splitlines()]
    assert len(rows) == 5 and all(r["key"] in want["rep"] and "computed_at" in r for r in rows)

    # `attain kpi --follow` prints them too (a real subprocess, replaying the topic).
    follow = stream.publish_async(["kpi", "--follow", "--by", "region", "--format", "json"],
                                  {"ATTAIN_FOLLOW_FROM_BEGINNING": "1"})
    try:
        assert follow.stdout is not None
        first = json.loads(follow.stdout.readline())
        assert first["key"] in {r["key"] for r in embedded_kpis["region"]} and "won_revenue" in first
    finally:
        follow.kill()
        follow.wait(timeout=30)
    assert worker.stop() == 0


def test_duplicates_shuffled_and_malformed_events(stream: StreamEnv, embedded_kpis: dict) -> None:
    rng = random.Random(4)
    lines = bundled_lines()
    dupes = rng.sample(lines, len(lines) // 10)
    malformed = [
        b'{"type": "deal", "event_id": "bad-json-1",',                                    # broken JSON
        b"not json at all",
        b'{"type": "deal", "event_id": "bad-1", "deal_id": "X1", "version": 1, "owner": "A", '
        b'"stage": "Won", "status": "won", "occurred_at": "2017-01-01T00:00:00Z"}',       # won, no amount
        b'{"type": "deal", "event_id": "bad-2", "deal_id": "X2", "version": -1, "owner": "A", '
        b'"stage": "Open", "status": "open", "occurred_at": "2017-01-01T00:00:00Z"}',     # negative version
        b'{"type": "deal", "event_id": "bad-3", "deal_id": "X3", "version": 1, "owner": "A", '
        b'"stage": "Won", "status": "won", "amount": "-5", "occurred_at": "2017-01-01"}',  # negative amount
        b'{"type": "meeting", "event_id": "bad-4"}',                                       # unknown type
        b'[1, 2, 3]',                                                                       # not an object
    ]
    n_bad = len(lines) // 100
    bad = [malformed[i % len(malformed)].replace(b"bad-", f"bad{i}-".encode()) for i in range(n_bad)]
    everything = lines + dupes + bad
    rng.shuffle(everything)
    path = write_lines(stream.tmp / "events.jsonl", everything)

    url = stream.db()
    save_bundled_dimensions(url)
    worker = stream.start_worker(url)
    pub = stream.attain(["publish", str(path)])
    assert f"published {len(everything)} events" in pub.stdout
    stream.wait("every message processed", lambda: outcomes(url, "default") >= len(everything))

    assert_same_kpis(kpis_of(url, "default"), embedded_kpis)
    c = counters(url, "default")
    assert c[ACCEPTED] + c.get('attain_events_total{outcome="stale"}', 0) == BUNDLED_EVENTS
    assert c['attain_events_total{outcome="duplicate"}'] == len(dupes)
    assert c['attain_events_total{outcome="rejected"}'] == n_bad

    # Every malformed event is on attain.deadletter, with its reason and original payload.
    msgs = read_topic(stream.bootstrap, stream.prefix + "attain.deadletter")
    letters = [json.loads(m.value) for m in msgs]
    assert sorted(d["payload"].encode() for d in letters) == sorted(bad)
    assert all(d["reason"] and d["source"].startswith("kafka:") and d["tenant"] == "default"
               for d in letters)
    reasons = {d["payload"]: d["reason"] for d in letters}
    assert "invalid JSON" in reasons[bad[0].decode()]
    assert "amount" in reasons[bad[2].decode()]
    # ... and in the store's dead letters.
    store = Store(url)
    try:
        assert sorted(r.payload.encode() for r in store.deadletters("default")) == sorted(bad)
    finally:
        store.dispose()
    assert worker.stop() == 0


def test_sigkill_mid_stream_then_restart(stream: StreamEnv, embedded_kpis: dict) -> None:
    url = stream.db()
    stream.attain(["--db", url, "publish", "crm-csv", str(DATA)])
    first = stream.start_worker(url)
    stream.wait("a third processed", lambda: events_stored(url, "default") >= BUNDLED_EVENTS // 3)
    first.kill()
    killed_at = events_stored(url, "default")
    assert killed_at < BUNDLED_EVENTS, "the worker finished before it could be killed"

    second = stream.start_worker(url)
    stream.wait("every event stored", lambda: events_stored(url, "default") >= BUNDLED_EVENTS)
    stream.wait("the counters settle", lambda: outcomes(url, "default") >= BUNDLED_EVENTS)
    assert_same_kpis(kpis_of(url, "default"), embedded_kpis)
    c = counters(url, "default")
    assert c[ACCEPTED] == BUNDLED_EVENTS  # nothing lost, nothing counted twice
    redelivered = c.get('attain_events_total{outcome="duplicate"}', 0)
    print(f"killed after {killed_at} events; {redelivered} redelivered events were duplicates")
    assert second.stop() == 0


def test_two_workers_rebalance(stream: StreamEnv, embedded_kpis: dict) -> None:
    url = stream.db()
    save_bundled_dimensions(url)
    lines = bundled_lines()
    third = len(lines) // 3
    parts = [write_lines(stream.tmp / f"part{i}.jsonl", lines[i * third:(i + 1) * third if i < 2 else None])
             for i in range(3)]

    a = stream.start_worker(url)
    stream.attain(["publish", str(parts[0])])
    stream.wait("part 1 processed by A", lambda: outcomes(url, "default") >= third)

    port = free_port()
    b = stream.start_worker(url, args=["--web-port", str(port)])
    stream.wait("B assigned partitions", lambda: any(b.assignments()), timeout=120)
    pub = stream.publish_async(["publish", str(parts[1]), "--rate", "2500"])
    assert pub.wait(timeout=120) == 0
    stream.wait("part 2 processed by A and B", lambda: outcomes(url, "default") >= 2 * third)
    assert a.assignments()[-1] and b.assignments()[-1], "both workers should own partitions"
    assert sorted(a.assignments()[-1] + b.assignments()[-1]) == [0, 1, 2, 3]

    pub = stream.publish_async(["publish", str(parts[2]), "--rate", "2500"])
    stream.wait("part 3 under way", lambda: outcomes(url, "default") >= 2 * third + 1000)
    assert a.stop() == 0  # graceful: A commits what it processed and leaves the group
    assert pub.wait(timeout=120) == 0
    stream.wait("every event processed", lambda: events_stored(url, "default") >= BUNDLED_EVENTS)
    stream.wait("B owns every partition", lambda: b.assignments()[-1] == [0, 1, 2, 3], timeout=120)

    assert_same_kpis(kpis_of(url, "default"), embedded_kpis)
    assert counters(url, "default")[ACCEPTED] == BUNDLED_EVENTS
    # B's deal-state table holds every deal: those A processed came back from the changelog
    stream.wait("B's table holds every deal", lambda: scrape(port)[1].get(
        f'attain_stream_table_keys{{app="{stream.app_id}"}}') == 8800, timeout=60)
    assert b.stop() == 0


def test_kafka_offsets_past_the_store_are_re_read(stream: StreamEnv, embedded_kpis: dict) -> None:
    """The store, not Kafka, says what is processed: a group offset committed beyond the store's
    offsets (by another tool, or lost store writes) does not make the worker skip anything."""
    url = stream.db()
    save_bundled_dimensions(url)
    lines = bundled_lines()
    third = len(lines) // 3
    topic = stream.prefix + "attain.events"
    a = stream.start_worker(url)
    stream.attain(["publish", str(write_lines(stream.tmp / "first.jsonl", lines[:third]))])
    stream.wait("the first third processed", lambda: outcomes(url, "default") >= third)
    # The store records exactly what was processed: every partition's next offset is its end.
    stream.wait("the store's offsets at the log end",
                lambda: stored_offsets(url, stream.app_id, topic) == end_offsets(stream.bootstrap, topic))
    assert a.stop() == 0
    processed = stored_offsets(url, stream.app_id, topic)
    assert sum(processed.values()) == third

    stream.attain(["publish", str(write_lines(stream.tmp / "rest.jsonl", lines[third:]))])
    ends = end_offsets(stream.bootstrap, topic)
    # Partitions 0 and 1: Kafka says everything is consumed (no later message would reveal the
    # gap); 2 and 3: half of the unprocessed range.
    beyond = {p: ends[p] if p < 2 else (processed[p] + ends[p]) // 2 for p in ends}
    assert all(beyond[p] > processed[p] for p in ends)
    commit_group_offsets(stream.bootstrap, stream.app_id, topic, beyond)

    b = stream.start_worker(url)
    stream.wait("every event stored", lambda: events_stored(url, "default") >= BUNDLED_EVENTS)
    stream.wait("the store's offsets at the log end",
                lambda: stored_offsets(url, stream.app_id, topic) == ends)
    assert_same_kpis(kpis_of(url, "default"), embedded_kpis)
    # Every event once. The re-read range and the agent's run in parallel, so a deal's later
    # version can land before an earlier one: that one is stale (counted once, changes nothing).
    assert events_stored(url, "default") == BUNDLED_EVENTS
    c = counters(url, "default")
    assert c[ACCEPTED] + c.get('attain_events_total{outcome="stale"}', 0) == BUNDLED_EVENTS
    log = b.stderr()
    for p in ends:
        assert (f"Kafka's committed offset {beyond[p]} of {topic}[{p}] is past the store's "
                f"{processed[p]}: re-reading offsets {processed[p]}..{beyond[p] - 1}") in log
    assert b.stop() == 0


def test_metrics_endpoint_serves_the_workers_counters(stream: StreamEnv, embedded_kpis: dict) -> None:
    url = stream.db()
    port = free_port()
    stream.attain(["--db", url, "publish", "crm-csv", str(DATA)])
    worker = stream.start_worker(url, args=["--web-port", str(port)])
    stream.wait("every event processed", lambda: outcomes(url, "default") >= BUNDLED_EVENTS)
    topic = stream.prefix + "attain.events"
    ends = end_offsets(stream.bootstrap, topic)
    stream.wait("the store's offsets at the log end",
                lambda: stored_offsets(url, stream.app_id, topic) == ends)

    text_, m = scrape(port)
    lab = f'app="{stream.app_id}"'
    assert text_.startswith("text/plain; version=0.0.4")
    for name in ("attain_stream_events_total", "attain_stream_accepted_total",
                 "attain_stream_batches_total", "attain_stream_repaired_total"):
        assert f"# TYPE {name} counter" in text_ and f"# HELP {name} " in text_
    # The worker's counters agree with the store's: it is the only one that wrote to it.
    c = counters(url, "default")
    assert m[f"attain_stream_accepted_total{{{lab}}}"] == c[ACCEPTED] == BUNDLED_EVENTS
    assert m[f"attain_stream_events_total{{{lab}}}"] == outcomes(url, "default")
    assert m[f"attain_stream_events_total{{{lab}}}"] == sum(
        m[f"attain_stream_{k}_total{{{lab}}}"] for k in ("accepted", "duplicates", "stale", "rejected"))
    assert m[f"attain_stream_rejected_total{{{lab}}}"] == 0
    # at most 500 events a batch, at least one (how Faust cuts them is its own business)
    assert BUNDLED_EVENTS / 500 <= m[f"attain_stream_batches_total{{{lab}}}"] <= BUNDLED_EVENTS
    assert {p: m[f'attain_stream_next_offset{{{lab},partition="{p}"}}'] for p in ends} == ends
    assert sum(ends.values()) == BUNDLED_EVENTS
    # the contract's series (docs/metrics.md): events by tenant and outcome, batch durations, and
    # no lag left on any partition the worker owns once the store is at the log end
    # (prometheus-client writes the labels in name order)
    assert m['attain_events_total{outcome="accepted",tenant="default"}'] == BUNDLED_EVENTS
    assert m['attain_events_total{outcome="rejected",tenant="default"}'] == 0
    assert m['attain_batch_duration_seconds_count{source="worker"}'] == m[f"attain_stream_batches_total{{{lab}}}"]
    assert {k: v for k, v in m.items() if k.startswith("attain_consumer_lag{")} == {
        f'attain_consumer_lag{{partition="{p}",topic="{topic}"}}': 0 for p in ends}
    assert_same_kpis(kpis_of(url, "default"), embedded_kpis)
    assert worker.stop() == 0


def test_deal_state_table_holds_each_deals_latest_snapshot(stream: StreamEnv, embedded_kpis: dict) -> None:
    """The changelog-backed Faust table (on by default): one key per deal, each holding the deal's
    stored (latest) snapshot, in the worker and in its changelog topic."""
    url = stream.db()
    port = free_port()
    stream.attain(["--db", url, "publish", "crm-csv", str(DATA)])
    worker = stream.start_worker(url, args=["--web-port", str(port)])
    stream.wait("every event processed", lambda: outcomes(url, "default") >= BUNDLED_EVENTS)
    store = Store(url)
    try:
        deals = {d.deal_id: d.model_dump(mode="json") for d in Engine(store).deals("default")}
    finally:
        store.dispose()
    lab = f'app="{stream.app_id}"'
    stream.wait("the table holds every deal",
                lambda: scrape(port)[1].get(f"attain_stream_table_keys{{{lab}}}") == len(deals))
    changelog = read_topic(stream.bootstrap, f"{stream.app_id}-deal-state-changelog", idle=1.5)
    latest: dict[str, dict] = {}
    partitions: dict[str, int] = {}
    for m in changelog:  # Faust's changelog: key and value JSON-encoded by the table's codecs
        key = json.loads(m.key)
        latest[key.split("|", 1)[1]] = json.loads(m.value)
        partitions[key] = m.partition
    assert len(deals) == 8800 and latest == deals
    # co-partitioned with attain.events: a deal's state sits in its events' partition
    events = read_topic(stream.bootstrap, stream.prefix + "attain.events", idle=1.5)
    event_partition = {m.key.decode(): m.partition for m in events if m.key}
    assert all(event_partition[k] == p for k, p in partitions.items())
    assert_same_kpis(kpis_of(url, "default"), embedded_kpis)
    assert worker.stop() == 0


def test_table_off_gives_the_same_kpis(stream: StreamEnv, embedded_kpis: dict) -> None:
    """ATTAIN_STREAM_TABLE=0 (the escape hatch if Faust's changelog recovery hangs): no table,
    no changelog topic, the same KPIs."""
    url = stream.db()
    port = free_port()
    stream.attain(["--db", url, "publish", "crm-csv", str(DATA)])
    worker = stream.start_worker(url, {"ATTAIN_STREAM_TABLE": "0"}, args=["--web-port", str(port)])
    stream.wait("every event processed", lambda: outcomes(url, "default") >= BUNDLED_EVENTS)
    assert scrape(port)[1][f'attain_stream_table_keys{{app="{stream.app_id}"}}'] == 0
    assert_same_kpis(kpis_of(url, "default"), embedded_kpis)
    assert worker.stop() == 0
    assert f"{stream.app_id}-deal-state-changelog" not in list_topics(stream.bootstrap)


KPIS_JSON = ("import sys; from attain.core import output; from attain.core.engine import Engine;"
             "from attain.core.kpi import GROUPINGS; from attain.core.store import Store;"
             "e = Engine(Store(sys.argv[1])); print(output.dumps({g: e.kpis('default', g) for g in GROUPINGS}))")


def test_failing_plugin_hooks_are_counted_and_isolated(stream: StreamEnv) -> None:
    plugin_env = install_flaky_plugin(stream.tmp / "plugin")
    embedded = stream.db("embedded")
    stream.attain(["--db", embedded, "import", "-q", "crm-csv", str(DATA)], plugin_env)

    url = stream.db()
    stream.attain(["--db", url, "publish", "crm-csv", str(DATA)], plugin_env)
    port = free_port()
    worker = stream.start_worker(url, plugin_env, args=["--web-port", str(port)])
    stream.wait("every event processed", lambda: outcomes(url, "default") >= BUNDLED_EVENTS)

    c = counters(url, "default")
    # every event processed once despite the failures (no redelivery: a single worker)
    assert c[ACCEPTED] == outcomes(url, "default") == BUNDLED_EVENTS
    events = [json.loads(line) for line in bundled_lines()]
    closed_7 = sum(1 for e in events if e["deal_id"].endswith("7") and e["version"] == 3)
    of_3 = sum(1 for e in events if e["deal_id"].endswith("3"))  # every version of those deals
    assert closed_7 > 0 and of_3 > 0
    errors = {k: v for k, v in c.items() if k.startswith("attain_plugin_errors_total")}
    assert errors == {'attain_plugin_errors_total{plugin="flaky",hook="contribute"}': closed_7,
                      'attain_plugin_errors_total{plugin="flaky",hook="attain_event_received"}': of_3}
    assert counters(embedded, "default") == {ACCEPTED: BUNDLED_EVENTS, **errors}
    # the worker's attain_plugin_errors_total{tenant,plugin,hook} (docs/metrics.md) agrees
    scraped = {k: v for k, v in scrape(port)[1].items() if k.startswith("attain_plugin_errors_total{")}
    assert scraped['attain_plugin_errors_total{hook="contribute",plugin="flaky",tenant="default"}'] == closed_7
    assert scraped['attain_plugin_errors_total{hook="attain_event_received",plugin="flaky",tenant="default"}'] == of_3
    assert sum(scraped.values()) == closed_7 + of_3
    assert "plugin 'flaky' failed in attain_event_received" in worker.stderr()
    assert worker.stop() == 0

    # Every KPI, the plugin's own metric included, equals the embedded engine's (read with the
    # plugin loaded, so the stored components are used as they are).
    got, want = (json.loads(python_with(KPIS_JSON, u, plugin_env), parse_float=Decimal)
                 for u in (url, embedded))
    assert got == want
    # flaky_deals counts every deal but the closed ones ending in 7 (8,800 deals in all).
    assert got["all"][0]["flaky_deals"] == len({e["deal_id"] for e in events}) - closed_7


def python_with(code: str, arg: str, env: dict[str, str]) -> str:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", code, arg], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.postgres
def test_bundled_data_set_on_postgresql(stream: StreamEnv, embedded_kpis: dict) -> None:
    """A worker writing to a real PostgreSQL (a database of its own on the test server, which
    must be there: without ATTAIN_TEST_POSTGRES_URL this skips locally and fails on CI)."""
    with postgres_database(postgres_base_url()) as url:
        tenant = f"stream-{uuid.uuid4().hex[:8]}"
        stream.attain(["--db", url, "publish", "crm-csv", str(DATA), "--tenant", tenant])
        worker = stream.start_worker(url)
        stream.wait("every event processed", lambda: outcomes(url, tenant) >= BUNDLED_EVENTS)
        assert_same_kpis(kpis_of(url, tenant), embedded_kpis)
        assert counters(url, tenant)[ACCEPTED] == BUNDLED_EVENTS
        assert worker.stop() == 0


def test_publish_keys_events_by_tenant_and_entity(stream: StreamEnv) -> None:
    lines = [
        b'{"type": "deal", "tenant": "acme", "deal_id": "D1", "event_id": "e1"}',
        b'{"type": "lead", "lead_id": "L1", "event_id": "e2"}',
        b"{broken",
    ]
    path = write_lines(stream.tmp / "few.jsonl", lines)
    out = stream.attain(["publish", str(path)]).stdout
    assert re.search(r"published 3 events .* \(1 without a key", out)
    msgs = read_topic(stream.bootstrap, stream.prefix + "attain.events", idle=2)
    keys = {m.value: m.key for m in msgs}
    assert keys[lines[0]] == b"acme|D1" and keys[lines[1]] == b"default|L1" and keys[lines[2]] is None
    assert {event_id(m.value) for m in msgs} == {"e1", "e2", None}
    assert run_attain(["publish", "--help"]).returncode == 0
