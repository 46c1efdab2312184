"""Stream building blocks that need no broker: message keys, the KPI view, the offset ledger."""

from __future__ import annotations

import json
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from attain.core.engine import Engine, Record
from attain.core.kpi import GROUPINGS
from attain.core.plugins import get_plugins
from attain.core.store import Store
from attain.streams import codec
from attain.streams.config import StreamConfig
from attain.streams.kpiview import KpiView

from .conftest import kafka_plan
from .streamkit import DATA


def test_event_keys() -> None:
    assert codec.key_of_line(b'{"type": "deal", "tenant": "acme", "deal_id": "D1"}') == "acme|D1"
    assert codec.key_of_line(b'{"deal_id": "D1"}') == "default|D1"
    assert codec.key_of_line(b'{"type": "activity", "activity_id": "A9"}') == "default|A9"
    assert codec.key_of_line(b'{"type": "customer", "tenant": "t", "account": "Acme"}') == "t|Acme"
    assert codec.key_of_line(b"{oops") is None
    assert codec.key_of_line(b"[1]") is None
    assert codec.key_of_line(b'{"type": "deal"}') is None
    assert codec.tenant_of_key(b"acme|D1") == "acme"
    assert codec.tenant_of_key(None) == "default"
    assert codec.tenant_of_key(b"nodelimiter") == "default"


def test_exact_decimals_on_the_wire() -> None:
    from decimal import Decimal

    value = codec.kpi_value("t", "rep", [{"key": "Ann", "won_revenue": Decimal("1234567890.123456"),
                                          "win_rate": None, "won_deals": Decimal(3)}], "now", {0: 5})
    assert b'"won_revenue":1234567890.123456' in value
    data = json.loads(value, parse_float=Decimal)
    assert data == {"tenant": "t", "grouping": "rep", "computed_at": "now", "offsets": {"0": 5},
                    "rows": [{"key": "Ann", "won_revenue": Decimal("1234567890.123456"),
                              "win_rate": None, "won_deals": 3}]}
    encoded = codec.encode_event({"amount": Decimal("0.10")})
    assert b'"amount": 0.10' in encoded and json.loads(encoded, parse_float=Decimal)["amount"] == Decimal("0.10")


def test_config_from_env(monkeypatch: Any) -> None:
    monkeypatch.setenv("ATTAIN_KAFKA_BOOTSTRAP", "a:1, b:2")
    monkeypatch.setenv("ATTAIN_KAFKA_PARTITIONS", "6")
    monkeypatch.setenv("ATTAIN_KAFKA_TOPIC_PREFIX", "x.")
    cfg = StreamConfig.from_env()
    assert cfg.brokers == ["a:1", "b:2"] and cfg.partitions == 6
    assert cfg.topics == ["x.attain.events", "x.attain.deadletter", "x.attain.kpi-updates"]
    assert cfg.with_(partitions=None, app_id="y").app_id == "y"
    assert (cfg.fetch_min_bytes, cfg.fetch_max_wait_ms) == (16384, 10)
    monkeypatch.setenv("ATTAIN_FETCH_MIN_BYTES", "1")
    monkeypatch.setenv("ATTAIN_FETCH_MAX_WAIT_MS", "500")
    cfg = StreamConfig.from_env()
    assert (cfg.fetch_min_bytes, cfg.fetch_max_wait_ms) == (1, 500)


def test_worker_consumer_fetches_with_the_configured_wait(tmp_path: Path) -> None:
    """The worker's aiokafka consumer (which Faust creates with fetch_max_wait_ms=1500 and no
    setting for it) starts with the configured fetch.min.bytes and fetch.max.wait.ms."""
    import asyncio

    from attain.streams.worker import StreamWorker

    cfg = StreamConfig(app_id="fetch-test", datadir=str(tmp_path / "faust"), fetch_min_bytes=777,
                       fetch_max_wait_ms=33)
    worker = StreamWorker(cfg, f"sqlite:///{tmp_path / 'w.db'}")
    try:
        thread = worker.app.consumer._thread

        async def settings() -> tuple[int, int]:
            kafka = thread._create_consumer(loop=asyncio.get_running_loop())
            try:
                return kafka._fetch_min_bytes, kafka._fetch_max_wait_ms
            finally:
                await kafka.stop()

        assert asyncio.run(settings()) == (777, 33)
    finally:
        for helper in (worker.writer, worker.round_process):
            if helper is not None:
                helper.close()
        worker.store.dispose()


def test_kpi_view_publishes_every_changed_group_exactly(tmp_path: Path) -> None:
    """After every batch (shuffled versions, late reference data) the view publishes, for every
    grouping, each group whose row changed, with exactly the engine's row, and nothing else
    than the engine's rows."""
    batch = get_plugins().connectors["crm-csv"].read(str(DATA), "default")
    records = list(batch.records)
    random.Random(3).shuffle(records)
    store = Store(f"sqlite:///{tmp_path / 'view.db'}")
    engine = Engine(store)
    engine.save_dimensions("default", batch.reps[:10], batch.accounts[:20], batch.products[:3])
    view = KpiView(store.engine)
    metrics = engine.metrics("default")
    before: dict[str, dict[object, dict[str, object]]] = {g: {} for g in GROUPINGS}
    for i in range(0, len(records), 3000):
        late = i == 9000
        if late:  # the rest of the reference data arrives late: groups change without a batch
            engine.save_dimensions("default", batch.reps, batch.accounts, batch.products)
            before = {g: {r["key"]: r for r in engine.kpis("default", g)} for g in GROUPINGS}
        result = engine.process(records[i:i + 3000])
        dims = engine.dimensions("default")
        rows = view.changed_rows("default", [c for _, c in result.changed_cells], dims, metrics)
        for g in GROUPINGS:
            full = {r["key"]: r for r in engine.kpis("default", g)}
            published = {r["key"]: r for gg, r in rows if gg == g}
            assert all(full[k] == r for k, r in published.items()), g
            changed = {k for k, r in full.items() if before[g].get(k) != r}
            assert changed <= set(published), (g, changed - set(published))
            before[g] = full
    # One new version of a rostered rep's deal: the manager/region rows come from that
    # manager's and region's reps only, not from a read of every rep's total.
    snap = next(d for d in engine.snapshots("default") if d.status == "won"  # its amount counts
                and d.owner in {r.name for r in batch.reps}
                and d.account in {a.name for a in batch.accounts}
                and d.product in {p.name for p in batch.products})
    bumped = snap.model_copy(update={"event_id": "bump-1", "version": snap.version + 1,
                                     "amount": (snap.amount or 0) + 1})
    result = engine.process([Record(bumped)])
    rows = view.changed_rows("default", [c for _, c in result.changed_cells],
                             engine.dimensions("default"), metrics)
    for g, row in rows:
        assert {r["key"]: r for r in engine.kpis("default", g)}[row["key"]] == row, g
    assert {g for g, _ in rows} == set(GROUPINGS)
    everything = len(batch.reps) + len(batch.accounts) + len(batch.products)
    assert view.timing["read_rows"] < everything / 2  # 40 here, against 132 with full reads
    store.dispose()


def test_kpi_view_sees_cells_written_by_another_process(tmp_path: Path) -> None:
    """Our rows always include what another worker committed: the view reads the committed
    roll-ups."""
    url = f"sqlite:///{tmp_path / 'two.db'}"
    a, b = Engine(Store(url)), Engine(Store(url))
    # re-read everything at once when another writer shows up; never just because time passed
    view = KpiView(a.store.engine, resync=1e9, foreign_interval=0.0)
    ev = {"type": "deal", "deal_id": "D1", "version": 1, "owner": "Ann", "stage": "Won",
          "status": "won", "amount": "10.5", "occurred_at": "2024-01-02T00:00:00Z"}
    own = 0

    def round_(result: Any) -> dict[tuple[str, object], dict[str, object]]:
        nonlocal own
        own += result.accepted + result.duplicates + result.stale + result.rejected
        rows = view.changed_rows("default", [c for _, c in result.changed_cells],
                                 a.dimensions("default"), a.metrics("default"),
                                 lambda: (view.store_outcomes("default"), own))
        return {(g, r["key"]): r for g, r in rows}

    round_(a.process([Record({**ev, "event_id": "e1"})]))
    rows = round_(a.process([Record({**ev, "event_id": "e2", "version": 2, "amount": "11"})]))
    assert str(rows[("all", "all")]["won_revenue"]) == "11"  # alone: touched cells only
    b.process([Record({**ev, "event_id": "e3", "deal_id": "D2", "owner": "Bob", "amount": "1"})])
    rows = round_(a.process([Record({**ev, "event_id": "e4", "version": 3, "amount": "20"})]))
    assert str(rows[("all", "all")]["won_revenue"]) == "21"  # Bob's deal, committed by "b", is in
    assert ("rep", "Bob") not in rows and str(rows[("rep", "Ann")]["won_revenue"]) == "20"


def test_offset_ledger_advances_only_over_contiguous_processed_offsets() -> None:
    from attain.streams.worker import OffsetLedger

    ledger = OffsetLedger()
    assert ledger.advance({0: [0, 1]}) == {}  # no base yet (not assigned): nothing is claimed
    ledger.load(0, 10)  # the store: every offset below 10 is processed
    ledger.load(1, 0)
    assert ledger.advance({0: [11, 12, 13]}) == {}  # 10 is missing: nothing to record
    ledger.apply({0: [11, 12, 13]})
    assert ledger.next_offset(0) == 10
    assert ledger.advance({0: [10], 1: [0, 2]}) == {0: 14, 1: 1}
    assert ledger.next_offset(0) == 10  # advance() only proposes; apply() after the commit
    ledger.apply({0: [10], 1: [0, 2]})
    assert (ledger.next_offset(0), ledger.next_offset(1)) == (14, 1)
    ledger.apply({0: [5, 6, 14]})  # redelivered offsets below the base change nothing
    assert ledger.next_offset(0) == 15 and ledger.done[0] == set()
    ledger.load(0, 12)  # an older store value never moves it back
    assert ledger.next_offset(0) == 15
    ledger.load(1, 2)  # another worker processed 1 meanwhile: 2 was done here, so 3 is next
    assert ledger.next_offset(1) == 3
    ledger.apply({2: [0, 1, 2, 5]})  # processed before the assignment handler read the store
    assert ledger.next_offset(2) is None
    ledger.load(2, 0)
    assert ledger.next_offset(2) == 3 and ledger.done[2] == {5}


def test_a_batch_is_cut_around_its_skipped_ranges_in_offset_order() -> None:
    """Seen in the rebalance test: a batch held offset 4349 of partition 2, then 4788 on (the
    fetch had skipped 4350..4787). Re-reading the range before the whole batch processed 4349
    (a deal's first version) after 4350 and 4351 (its later ones), so it counted as stale. Each
    partition must be processed in offset order: the batch's offsets below a skipped range, the
    range, then the rest."""
    from attain.streams.worker import offset_order

    def m(p: int, o: int) -> SimpleNamespace:
        return SimpleNamespace(partition=p, offset=o)

    batch = [m(2, 4349), m(3, 10), m(2, 4788), m(0, 7), m(2, 4789), m(3, 20), m(2, 4900), m(3, 21)]
    skipped = [(2, 4350, 4787), (3, 11, 19), (2, 4790, 4899)]

    def plan(steps: list) -> list:
        return [([(x.partition, x.offset) for x in msgs], gaps) for msgs, gaps in steps]

    assert plan(offset_order(batch, skipped)) == [
        ([(2, 4349), (3, 10), (0, 7)], [(2, 4350, 4787), (3, 11, 19)]),
        ([(2, 4788), (2, 4789), (3, 20), (3, 21)], [(2, 4790, 4899)]),
        ([(2, 4900)], []),
    ]
    # Every partition's offsets, replayed step by step (re-read ranges included), only go up.
    seen: dict[int, list[int]] = {}
    for msgs, gaps in offset_order(batch, skipped):
        for x in msgs:
            seen.setdefault(x.partition, []).append(x.offset)
        for p, first, last in gaps:
            seen.setdefault(p, []).extend(range(first, last + 1))
    assert all(offs == sorted(offs) for offs in seen.values())
    assert seen[2] == list(range(4349, 4901)) and seen[3] == list(range(10, 22))
    # Nothing skipped: one step, the whole batch.
    assert plan(offset_order(batch, [])) == [([(x.partition, x.offset) for x in batch], [])]


def test_kafka_commits_follow_the_store_not_faust_acks() -> None:
    from attain.streams.worker import KafkaCommits
    from faust.types import TP

    tp, other = TP("events", 0), TP("changelog", 0)
    consumer = SimpleNamespace(_new_offset=lambda tp: 999, _acked={tp: [7, 8, 9]},
                               _acked_index={tp: {7, 8, 9}}, _gap={})
    commits = KafkaCommits("events")
    commits.install(consumer)
    assert consumer._new_offset(tp) is None  # Faust saw acks, the store recorded nothing yet
    assert consumer._acked[tp] == [] and consumer._acked_index[tp] == set()
    commits.next[0] = 5
    assert consumer._new_offset(tp) == 5
    assert consumer._new_offset(other) == 999  # other topics: Faust's own logic


def test_docs_streams_md_names_every_setting_and_metric() -> None:
    import re

    from attain.streams.metrics import Stats

    root = Path(__file__).resolve().parents[2]
    doc = (root / "docs" / "streams.md").read_text()
    code = "\n".join(p.read_text() for p in (root / "streams").glob("*.py"))
    settings = set(re.findall(r"ATTAIN_[A-Z_]+", code))
    assert settings and not {s for s in settings if f"`{s}`" not in doc}
    metrics = {line.split()[2] for line in Stats().prometheus("a", 0, {0: 1}).splitlines()
               if line.startswith("# TYPE") and line.split()[2].startswith("attain_stream_")}
    documented = set(re.findall(r"`(attain_stream_[a-z_]+)", doc))
    documented |= {f"attain_stream_{m}" for m in re.findall(r"`_([a-z_]+_total)`", doc)}
    assert len(metrics) >= 10 and not metrics - documented
    assert all(m.endswith("_total") for m in metrics
               if f"# TYPE {m} counter" in Stats().prometheus("a", 0, {}))


def test_how_the_kafka_tests_get_a_broker() -> None:
    """The decision of the kafka_bootstrap fixture (conftest.py); "missing" skips locally and fails
    on CI (testkit.missing_server, tests/test_ci_rules.py)."""
    assert kafka_plan({"ATTAIN_KAFKA_BOOTSTRAP": " 127.0.0.1:9392 "}, have_java=False) == (
        "given", "127.0.0.1:9392")
    assert kafka_plan({"ATTAIN_KAFKA_BOOTSTRAP": ""}, have_java=True) == ("start", "")
    how, why = kafka_plan({}, have_java=False)
    assert how == "missing" and "ATTAIN_KAFKA_BOOTSTRAP" in why and "Java" in why


def test_the_backlog_is_what_waits_in_kafka_behind_the_batch() -> None:
    """``_waiting``: per partition of the batch, highwater − (the batch's last offset + 1), from the
    consumer's highwater marks; a partition without one (no fetch yet, not assigned) counts 0."""
    pytest.importorskip("faust")
    from attain.streams.worker import StreamWorker

    marks = {0: 1000, 1: 40}  # partition -> the next offset Kafka will write (highwater)

    class Consumer:
        def highwater(self, tp: Any) -> int | None:
            if tp.partition == 3:
                raise RuntimeError("not assigned")
            return marks.get(tp.partition)

    worker: Any = StreamWorker.__new__(StreamWorker)
    worker.cfg = SimpleNamespace(events_topic="attain.events")
    worker.app = SimpleNamespace(kafka_commits=SimpleNamespace(consumer=Consumer()))
    # The batch ended at offset 499 of partition 0 (500 waiting: 500..999), 39 of partition 1
    # (none waiting), 7 of partition 2 (no highwater known) and 5 of partition 3 (unassigned).
    assert worker._waiting({0: 499, 1: 39, 2: 7, 3: 5}) == 1000 - 499 - 1
    worker.app.kafka_commits.consumer = None  # before the consumer exists
    assert worker._waiting({0: 499}) == 0


def test_kpi_view_ungrouped_rows_from_the_total_less_the_placed_names(tmp_path: Path) -> None:
    """The ungrouped row (names the reference data does not place) is the tenant's total less
    the placed names' totals: the engine's row exactly, without a read of every total; and when
    nothing is left (the only unplaced name's deal moved to a placed one) the view reads every
    total and the ungrouped group is gone, as in the engine's rows."""
    store = Store(f"sqlite:///{tmp_path / 'ungrouped.db'}")
    engine = Engine(store)
    view = KpiView(store.engine)
    metrics = engine.metrics("default")
    deals = [Record({"type": "deal", "deal_id": f"D{i}", "event_id": f"e{i}", "version": 1,
                     "owner": f"Rep {i % 40}", "account": f"Acct {i % 60}", "product": f"P{i % 5}",
                     "stage": "Won", "status": "won", "amount": f"{100 + i}.25",
                     "closed_on": f"2024-0{1 + i % 9}-1{i % 10}",
                     "occurred_at": "2024-01-02T00:00:00Z"}) for i in range(400)]
    engine.process(deals)
    from attain.core.models import Product, Rep
    engine.save_dimensions("default", [Rep(name="Rep 1", manager="M", region="East")], [],
                           [Product(name="P1", series="GTX", list_price="10")])
    dims = engine.dimensions("default")
    result = engine.process([Record({**deals[7].payload, "event_id": "e7b", "version": 2,  # Rep 7: unplaced
                                     "amount": "999.75"})])
    rows = view.changed_rows("default", [c for _, c in result.changed_cells], dims, metrics)
    for g, row in rows:
        assert {r["key"]: r for r in engine.kpis("default", g)}[row["key"]] == row, g
    assert {(g, r["key"]) for g, r in rows} >= {("manager", None), ("region", None), ("sector", None),
                                               ("series", None)}
    assert view.timing["read_rows"] < 40  # not the 40 reps' and 60 accounts' totals

    # the only unplaced rep's deal moves to a placed rep: nothing is left over, the ungrouped
    # group is gone (as in the engine's rows), which only a read of every total can tell
    solo = Engine(Store(f"sqlite:///{tmp_path / 'moved.db'}"))
    base = {"type": "deal", "deal_id": "X", "stage": "Won", "status": "won", "product": "P",
            "account": "A", "amount": "5", "closed_on": "2024-01-05",
            "occurred_at": "2024-01-02T00:00:00Z"}
    solo.process([Record({**base, "event_id": "x1", "version": 1, "owner": "Ann"})])
    solo.save_dimensions("default", [Rep(name="Cy", manager="M")], [], [])
    result = solo.process([Record({**base, "event_id": "x2", "version": 2, "owner": "Cy"})])
    view2 = KpiView(solo.store.engine)
    rows = view2.changed_rows("default", [c for _, c in result.changed_cells],
                              solo.dimensions("default"), solo.metrics("default"))
    for g, row in rows:
        assert {r["key"]: r for r in solo.kpis("default", g)}[row["key"]] == row, g
    keys = {(g, r["key"]) for g, r in rows}
    assert ("manager", "M") in keys and ("manager", None) not in keys
    assert None not in {r["key"] for r in solo.kpis("default", "manager")}
    store.dispose()
    solo.store.dispose()
