"""The stream worker's helper processes: a KPI round in a process of its own
(streams/kpi_rounds.py) publishes what the worker's own thread would, from the committed store; a
batch written by the writer process (streams/batch_writer.py) stores what the thread would; both
survive their process dying."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from decimal import Decimal
from pathlib import Path

import pytest
from attain.core.engine import Engine, Record
from attain.core.plugins import get_plugins
from attain.core.store import Store
from attain.streams.kpi_rounds import RoundProcess, in_thread

from .streamkit import DATA


def _rows(messages: list[tuple[bytes, bytes]]) -> dict[bytes, list[object]]:
    """Each message's rows by key (the message's computed_at differs between two rounds)."""
    return {k: json.loads(v, parse_float=Decimal)["rows"] for k, v in messages}


def test_a_round_in_its_own_process_publishes_what_the_thread_would(tmp_path: Path) -> None:
    from concurrent.futures.process import BrokenProcessPool

    url = f"sqlite:///{tmp_path / 'rounds.db'}"
    store = Store(url)
    engine = Engine(store, get_plugins())
    batch = get_plugins().connectors["crm-csv"].read(str(DATA), "default")
    engine.save_dimensions("default", batch.reps, batch.accounts, batch.products)
    records = list(batch.records)
    first = engine.process(records[:4000])
    pending = {"default": {c for _, c in first.changed_cells}}
    offsets = {0: 41, 3: 7}
    proc = RoundProcess(url)
    try:
        pid = proc.start().result(timeout=120)
        assert pid != os.getpid()
        messages, n_rows, timing = asyncio.run(proc.round(pending, offsets))
        want, want_n, _ = in_thread(store, engine).messages(pending, offsets)
        assert n_rows == want_n > 100 and _rows(messages) == _rows(want)
        assert {json.loads(v)["offsets"] == {"0": 41, "3": 7} for _, v in messages} == {True}
        assert timing["round_ms"] > 0
        # the process reads the committed store: a batch written since is in the next round
        second = engine.process(records[4000:])
        pending = {"default": {c for _, c in second.changed_cells}}
        messages, _, _ = asyncio.run(proc.round(pending, offsets))
        assert _rows(messages) == _rows(in_thread(store, engine).messages(pending, offsets)[0])
        # the process dies: that round fails, the next call runs in a new process by itself
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(BrokenProcessPool):
            asyncio.run(proc.round(pending, offsets))
        assert proc.start().result(timeout=120) not in (pid, os.getpid())
        assert _rows(asyncio.run(proc.round(pending, offsets))[0]) == _rows(messages)
    finally:
        proc.close()
        store.dispose()


def test_a_round_of_a_record_batch_counts_its_events(tmp_path: Path) -> None:
    """The rows a round publishes are the engine's rows of the touched groups."""
    url = f"sqlite:///{tmp_path / 'one.db'}"
    store = Store(url)
    engine = Engine(store, get_plugins())
    deal = {"type": "deal", "deal_id": "D1", "event_id": "e1", "version": 1, "owner": "Ann",
            "stage": "Won", "status": "won", "amount": "120.50", "closed_on": "2024-03-05",
            "occurred_at": "2024-03-05T10:00:00Z"}
    res = engine.process([Record(deal)])
    messages, n_rows, _ = in_thread(store, engine).messages(
        {"default": {c for _, c in res.changed_cells}}, {0: 0})
    rows = _rows(messages)
    rep = rows[b"default|rep"]
    assert n_rows == sum(len(r) for r in rows.values())
    assert [(r["key"], r["won_revenue"], r["won_deals"]) for r in rep] == [("Ann", Decimal("120.5"), 1)]  # type: ignore[index]
    store.dispose()


def test_the_writer_process_writes_what_the_thread_would_and_survives_dying(tmp_path: Path) -> None:
    """A batch written by the writer process (streams/batch_writer.py) stores what the same
    call in the worker's own thread stores, offsets included, and returns the same result; when
    the process dies, that call fails and the retry runs in a new process."""
    from concurrent.futures.process import BrokenProcessPool

    from attain.core.kpi import GROUPINGS
    from attain.streams.batch_writer import WriterProcess, write_batch

    records = list(get_plugins().connectors["crm-csv"].read(str(DATA), "default").records)
    here, there = f"sqlite:///{tmp_path / 'thread.db'}", f"sqlite:///{tmp_path / 'process.db'}"
    a, b = Engine(Store(here), get_plugins()), Engine(Store(there), get_plugins())  # (migrated)
    proc = WriterProcess(there)
    try:
        pid = proc.start().result(timeout=120)
        for part, offsets in ((records[:3000], {0: 3000}), (records[3000:6000], {0: 6000, 1: 5})):
            want = write_batch(a, part, "default", "g", "attain.events", offsets, {}, True)
            got = asyncio.run(proc.write(part, "default", "g", "attain.events", offsets, {}, True))
            assert (got[0].accepted, got[0].stale, got[0].changed_cells) == \
                (want[0].accepted, want[0].stale, want[0].changed_cells)
            assert got[0].accepted > 1000 and got[1:] == want[1:]
        assert a.store.stream_offsets("g", "attain.events") == b.store.stream_offsets("g", "attain.events") \
            == {0: 6000, 1: 5}
        os.kill(pid, signal.SIGKILL)
        rest = records[6000:]
        with pytest.raises(BrokenProcessPool):
            asyncio.run(proc.write(rest, "default", "g", "attain.events", {0: 9000}, {}, False))
        got = asyncio.run(proc.write(rest, "default", "g", "attain.events", {0: 9000}, {}, False))
        write_batch(a, rest, "default", "g", "attain.events", {0: 9000}, {}, False)
        assert got[2] == {}  # no table: no states encoded
        assert all(a.kpis("default", g) == b.kpis("default", g) for g in GROUPINGS)
        assert b.store.stream_offsets("g", "attain.events")[0] == 9000
    finally:
        proc.close()
        a.store.dispose()
        b.store.dispose()


def test_a_call_in_flight_when_its_process_dies_fails_and_the_next_runs_anew() -> None:
    """The helper process dies during a call (SIGKILL): that call fails with BrokenProcessPool
    (nothing hangs), a call cancelled meanwhile leaves no reply behind for the next call, and
    the next call runs in a new process."""
    import time
    from concurrent.futures.process import BrokenProcessPool

    from attain.streams.helper_process import HelperProcess

    proc = HelperProcess(os.getpid)  # (any module-level function will do as the set-up)
    try:
        pid = proc.start().result(timeout=120)

        async def scenario() -> int:
            # a call cancelled while it runs: its late reply must not answer the next call
            slow = asyncio.ensure_future(proc.call(time.sleep, 0.3))
            await asyncio.sleep(0.05)
            slow.cancel()
            assert await proc.call(os.getpid) == pid
            # calls sent while the process still answers an earlier one, each larger than the
            # pipe holds, replies too: nothing blocks, each gets its own answer, in order
            big = b"x" * 3_000_000
            got = await asyncio.wait_for(asyncio.gather(
                proc.call(bytes, 2_000_000), proc.call(len, big), proc.call(bytes, 1_000_000),
                proc.call(len, big + big)), timeout=60)
            assert [len(got[0]), got[1], len(got[2]), got[3]] == [2_000_000, 3_000_000, 1_000_000, 6_000_000]
            dying = asyncio.ensure_future(proc.call(time.sleep, 30))
            await asyncio.sleep(0.2)
            os.kill(pid, signal.SIGKILL)
            with pytest.raises(BrokenProcessPool):
                await asyncio.wait_for(dying, timeout=20)
            return int(await proc.call(os.getpid))

        assert asyncio.run(scenario()) not in (pid, os.getpid())
    finally:
        proc.close()
