"""How roll-up components are stored (core/store/cells.py) and updated (the batch writer):
adding a delta to the stored text gives byte for byte what decoding, adding and encoding again
gives, so a roll-up row's text never depends on which path wrote it."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from attain.core.store.cells import add_components, dumps_components, loads_components
from hypothesis import given, settings
from hypothesis import strategies as st

KEYS = st.sampled_from(["won", "amount", "won_amount", "lost", "open_amount", "cycle_days", "x"])
VALUES = st.one_of(
    st.decimals(min_value=Decimal("-1e15"), max_value=Decimal("1e15"), allow_nan=False,
                allow_infinity=False, places=2),
    st.integers(min_value=-5, max_value=5).map(Decimal),
    st.sampled_from([Decimal("0"), Decimal("0.00"), Decimal("1E+2"), Decimal("-1E+2"),
                     Decimal("1.50"), Decimal("-1.5"), Decimal("123456789012345.678901")]),
)
COMPONENTS = st.dictionaries(KEYS, VALUES, max_size=7)


def reference(text: str, delta: dict[str, Decimal]) -> str:
    """Decode, add every component, encode: what the writer did before."""
    acc = loads_components(text)
    for k, v in delta.items():
        acc[k] = acc.get(k, Decimal(0)) + v
    return dumps_components(acc)


@settings(max_examples=400, deadline=None)
@given(COMPONENTS, st.lists(COMPONENTS, min_size=1, max_size=4))
def test_adding_to_the_stored_text_equals_decoding_adding_encoding(
        first: dict[str, Decimal], deltas: list[dict[str, Decimal]]) -> None:
    text = want = dumps_components(first)
    for delta in deltas:
        text, want = add_components(text, delta), reference(want, delta)
        assert text == want
    # and the values are the exact sums
    total: dict[str, Decimal] = {}
    for d in [first, *deltas]:
        for k, v in d.items():
            total[k] = total.get(k, Decimal(0)) + v
    assert loads_components(text) == {k: v for k, v in total.items() if v != 0}


def test_a_text_read_back_again_is_added_to_as_the_first_time() -> None:
    """add_components keeps the parsed form of the texts it returned (a row the next batch
    reads back); adding to such a text twice, with different deltas, must not let the first
    addition leak into the second (the kept form is copied, never changed)."""
    text = add_components(dumps_components({"won": Decimal("1")}), {"amount": Decimal("5.25")})
    once = add_components(text, {"won": Decimal("2")})
    again = add_components(text, {"lost": Decimal("1")})
    assert once == reference(text, {"won": Decimal("2")}) == '{"amount": "5.25", "won": "3"}'
    assert again == reference(text, {"lost": Decimal("1")}) == \
        '{"amount": "5.25", "lost": "1", "won": "1"}'
    assert add_components(once, {"won": Decimal("-3")}) == '{"amount": "5.25"}'


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=12), VALUES, max_size=8))
def test_the_stored_text_is_what_json_dumps_writes(comps: dict[str, Decimal]) -> None:
    """The writer joins the C encoder's quoted strings itself: the text must stay exactly
    ``json.dumps`` of the sorted decimal strings, escapes included (names with quotes,
    backslashes, control characters, non-ASCII, the per-product separator)."""
    want = json.dumps({k: str(v) for k, v in sorted(comps.items()) if v != 0})
    assert dumps_components(comps) == want
    assert dumps_components({"p\x1fGTX \"Pro\" é": Decimal("1.50")}) == \
        '{"p\\u001fGTX \\"Pro\\" \\u00e9": "1.50"}'


def test_a_component_that_cancels_out_is_dropped() -> None:
    text = dumps_components({"won": Decimal("2"), "amount": Decimal("10.50")})
    assert add_components(text, {"won": Decimal("-2"), "lost": Decimal("1")}) == \
        '{"amount": "10.50", "lost": "1"}'
    assert add_components('{"won": "1"}', {"won": Decimal("-1")}) == "{}"


def _deals(n: int, prefix: str = "d") -> list[dict[str, object]]:
    return [{"type": "deal", "deal_id": f"{prefix}{i}", "event_id": f"{prefix}{i}", "version": 1,
             "owner": f"Rep {i % 7}", "account": f"Acct {i % 11}", "product": f"P{i % 3}",
             "stage": "Won", "status": "won", "amount": f"{i}.25", "closed_on": f"2024-0{1 + i % 9}-1{i % 10}",
             "occurred_at": "2024-01-02T00:00:00Z"} for i in range(n)]


def test_multi_row_statements_write_what_one_row_at_a_time_writes(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's writes go as multi-row VALUES statements, in chunks of SQLITE_VARIABLES
    parameters: with chunks of one row (what executemany did) the stored roll-ups, deals and
    events are the same, row for row."""
    from attain.core.engine import Engine, Record
    from attain.core.store import Store, writer
    from sqlalchemy import text

    def contents(url: str) -> list[list[tuple[object, ...]]]:
        store = Store(url)
        with store.connect() as conn:
            out = [list(conn.execute(text(f"SELECT * FROM {t} ORDER BY 1, 2, 3, 4"))) for t in
                   ("kpi_rollups", "deals", "events")]
        store.dispose()
        return [[r[:-1] if t == 2 else r for r in rows] for t, rows in enumerate(out)]  # (events: not the id)

    events = _deals(700)
    urls = []
    for variables in (writer.SQLITE_VARIABLES, 6):  # the default chunks, then one row each
        monkeypatch.setattr(writer, "SQLITE_VARIABLES", variables)
        url = f"sqlite:///{tmp_path / f'w{variables}.db'}"
        engine = Engine(Store(url))
        engine.process([Record(e) for e in events[:600]])
        engine.process([Record({**e, "version": 2, "event_id": f"{e['event_id']}b", "amount": "1"})
                        for e in events[::5]])
        engine.store.dispose()
        urls.append(url)
    first, second = contents(urls[0]), contents(urls[1])
    assert first == second and len(first[0]) > 200


def test_background_checkpoints_keep_the_log_bounded(tmp_path: Path) -> None:
    """With the write-ahead log copied back by a thread of its own (the stream worker's store),
    the log still starts over (it does not grow with every batch) and every write is kept."""
    import os
    import time

    from attain.core.engine import Engine, Record
    from attain.core.store import Store
    from attain.core.store import db as store_db

    path = tmp_path / "ckpt.db"
    store = Store(f"sqlite:///{path}")
    store.checkpoint_in_background(0.05)
    engine = Engine(store)
    sizes = []
    for i in range(40):
        engine.process([Record(e) for e in _deals(100, f"b{i}-")])
        sizes.append(os.path.getsize(f"{path}-wal"))
        time.sleep(0.01)
    import threading

    (thread,) = [t for t in threading.enumerate() if t.name == "attain-checkpoint"]
    store.dispose()
    assert not thread.is_alive()  # dispose stopped it
    # bounded: far below the log of 40 batches without any checkpoint (each adds a few MB)
    assert max(sizes) < 3 * store_db.WAL_RESTART_FRAMES * 4096, sizes
    again = Engine(Store(f"sqlite:///{path}"))
    assert again.kpis("default", "all")[0]["won_deals"] == 4000
    again.store.dispose()


def test_a_read_then_write_transaction_waits_for_a_writer_instead_of_failing(tmp_path: Path) -> None:
    """SQLite: a deferred transaction that read, then writes after another connection (a stream
    worker on the same file) committed, fails at once with "database is locked"; the same
    transaction on :func:`write_locked` takes the lock first, so the other writer waits its turn
    and both writes are kept (the Salesforce sync's mark, goals, incentives: CI saw the first)."""
    import threading

    from attain.core.store import Store, write_locked
    from sqlalchemy.exc import OperationalError

    store = Store(f"sqlite:///{tmp_path / 'locks.db'}", run_migrations=False)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE mark (n INTEGER)")
        conn.exec_driver_sql("INSERT INTO mark VALUES (0)")

    def other_writer() -> None:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("UPDATE mark SET n = n + 10")

    with pytest.raises(OperationalError, match="locked"), store.engine.begin() as conn:
        (n,), = conn.exec_driver_sql("SELECT n FROM mark").all()
        other_writer()  # commits between this transaction's read and its write
        conn.exec_driver_sql("UPDATE mark SET n = ?", (n + 1,))

    with write_locked(store.engine).begin() as conn:
        (n,), = conn.exec_driver_sql("SELECT n FROM mark").all()
        other = threading.Thread(target=other_writer)
        other.start()
        other.join(0.3)
        assert other.is_alive()  # waiting for this transaction's lock, not failing
        conn.exec_driver_sql("UPDATE mark SET n = ?", (n + 1,))
    other.join(10)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT n FROM mark").scalar() == 10 + 1 + 10
    store.dispose()


def test_the_restarting_checkpoint_never_keeps_writers_out_behind_an_old_reader(
        tmp_path: Path, monkeypatch: Any) -> None:
    """The background checkpoint's RESTART blocks new writers while it waits for readers; a
    reader on an old snapshot (an open deferred transaction) must not keep them out for the
    30 s busy timeout: the checkpoint gives up after RESTART_WAIT_MS and tries again later."""
    import threading
    import time

    from attain.core.store import Store
    from attain.core.store import db as store_db

    monkeypatch.setattr(store_db, "WAL_RESTART_FRAMES", 10)
    store = Store(f"sqlite:///{tmp_path / 'restart.db'}", run_migrations=False)
    store.checkpoint_in_background(0.02)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x TEXT)")
    reader = store.engine.connect()
    reader.begin()
    reader.exec_driver_sql("SELECT count(*) FROM t").all()  # holds its snapshot from here

    done: list[int] = []

    def write() -> None:
        for i in range(30):  # each commit adds frames: the log stays past the restart size
            with store.engine.begin() as conn:
                conn.exec_driver_sql("INSERT INTO t VALUES (?)", ("x" * 5000,))
            done.append(i)
            time.sleep(0.01)

    writer = threading.Thread(target=write)
    writer.start()
    writer.join(20)  # before the fix: each restart attempt held writers out for up to 30 s
    alive = writer.is_alive()
    reader.close()
    writer.join(60)
    store.dispose()
    assert not alive and len(done) == 30
