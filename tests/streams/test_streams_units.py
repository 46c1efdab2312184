"""Stream building blocks that need no broker: message keys, the KPI view, the ack gate."""

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


@pytest.mark.parametrize("resync", [0.0, 1e9], ids=["full-reads", "touched-cells-only"])
def test_kpi_view_equals_full_rollup_while_cells_change(tmp_path: Path, resync: float) -> None:
    """After every batch (shuffled versions, late reference data) the view's rows equal the
    engine's own rollup for every grouping and key (one writer: reading back only the touched
    cells is exact too)."""
    batch = get_plugins().connectors["crm-csv"].read(str(DATA), "default")
    records = list(batch.records)
    random.Random(3).shuffle(records)
    store = Store(f"sqlite:///{tmp_path / 'view.db'}")
    engine = Engine(store)
    engine.save_dimensions("default", batch.reps[:10], batch.accounts[:20], batch.products[:3])
    view = KpiView(store.engine, resync=resync, foreign_interval=resync)
    metrics = engine.metrics("default")
    for i in range(0, len(records), 3000):
        if i == 9000:  # the rest of the reference data arrives late: every group changes
            engine.save_dimensions("default", batch.reps, batch.accounts, batch.products)
        result = engine.process(records[i:i + 3000])
        dims = engine.dimensions("default")
        touched = [c for _, c in result.changed_cells]
        rows = view.changed_rows("default", touched, dims, metrics)
        for g in GROUPINGS:
            full = {r["key"]: r for r in engine.kpis("default", g)}
            keys = {dims.group_key(g, c) for c in touched}
            assert {r["key"]: r for gg, r in rows if gg == g} == {k: full[k] for k in keys if k in full}
            assert view.tenants["default"].rows(g, None, metrics) == engine.kpis("default", g)
    store.dispose()


def test_kpi_view_sees_cells_written_by_another_process(tmp_path: Path) -> None:
    """Our rows always include what another worker committed: the store's event counters grow by
    more than our own batches account for, so the view re-reads every cell."""
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


def _fake_consumer(acked: list[int]) -> Any:
    async def add_gap(tp: Any, a: int, b: int) -> None:
        raise AssertionError("Faust's gap handling must not run for attain.events")

    return SimpleNamespace(_unacked_messages=set(), ack=lambda m: acked.append(m.offset) or True,
                           _add_gap=add_gap, _new_offset=lambda tp: 999, _committed_offset={},
                           _acked={}, _acked_index={})


def test_ack_gate_only_counts_the_agents_acks() -> None:
    from attain.streams.worker import AckGate

    class Msg:
        def __init__(self, topic: str, offset: int) -> None:
            self.topic, self.partition, self.offset, self.acked = topic, 0, offset, False

    acked: list[int] = []
    consumer = _fake_consumer(acked)
    gate = AckGate("events")
    gate.install(consumer)
    skipped = Msg("events", 7)  # e.g. fetched before a rebalance: Faust skips and acks it
    consumer._unacked_messages.add(skipped)
    assert consumer.ack(skipped) is False and skipped.acked and not consumer._unacked_messages
    gate.open = True  # the agent acks what it processed
    assert consumer.ack(Msg("events", 8)) is True
    gate.open = False
    assert consumer.ack(Msg("other-topic", 9)) is True
    assert acked == [8, 9] and gate.refused == 1


def test_commits_stop_at_the_first_unprocessed_offset() -> None:
    import asyncio

    from attain.streams.worker import AckGate

    consumer = _fake_consumer([])
    gate = AckGate("events")
    gate.install(consumer)
    from faust.types import TP

    tp = TP("events", 0)
    consumer._committed_offset[tp] = 10
    consumer._acked[tp] = [11, 12, 13, 14]  # what Faust saw acked: 10 is missing at the head
    gate.record(0, [11, 12, 13, 14])
    assert consumer._new_offset(tp) is None  # Faust's own check would commit 15 (#606)
    gate.record(0, [10])
    assert consumer._new_offset(tp) == 15
    consumer._committed_offset[tp] = 15
    gate.record(0, [15, 16, 18])  # 17 was skipped by the fetch
    asyncio.run(consumer._add_gap(tp, 17, 17))  # Faust would take 17 as non-existent: ignored
    assert consumer._new_offset(tp) == 17 and gate.gaps == 1
    other = TP("changelog", 0)
    assert consumer._new_offset(other) == 999  # other topics: Faust's own logic
