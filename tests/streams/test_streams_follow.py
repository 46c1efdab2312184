"""`attain kpi --follow` against a real broker and worker: the rows' values, updates that arrive
after the follow started, the tenant filter, JSON / CSV / table output, and the --max-updates and
--timeout limits. Expected rows come from tests/reference.py (plain Python over the events)."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

import pytest
from attain.core.plugins import get_plugins
from attain.core.store import Store
from reference import RefData, big_deal, reference_kpis
from testkit import money, plain

from .streamkit import Lines, StreamEnv, outcomes, write_lines

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.timeout(300),
    pytest.mark.filterwarnings("ignore:read_text is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:open_text is deprecated:DeprecationWarning"),
]

EXTRA = {"big_deal_count": big_deal} if "big_deal_count" in get_plugins().metrics else {}
KPIS_PLUGIN = "mql_to_sal_rate" in get_plugins().metrics  # the bundled kpis plugin's figures
MONEY = {m.name for m in get_plugins().metrics.values() if m.unit == "money"}


def deal(tenant: str, eid: str, did: str, version: int, owner: str, status: str, amount: str | None,
         **extra: Any) -> dict[str, Any]:
    return {"type": "deal", "tenant": tenant, "event_id": eid, "deal_id": did, "version": version,
            "occurred_at": "2017-03-01T10:00:00Z", "owner": owner, "stage": status.title(),
            "status": status, "amount": amount, **extra}


FIRST = [  # before the follow starts
    deal("t1", "a1", "A", 1, "Ann", "open", "100"),
    deal("t1", "a2", "A", 2, "Ann", "won", "1000.50", engaged_on="2017-01-02", closed_on="2017-02-03"),
    deal("t1", "b1", "B", 1, "Bob", "open", "300"),
    {"type": "activity", "tenant": "t1", "event_id": "call1", "activity_id": "call1", "kind": "call",
     "owner": "Ann", "occurred_at": "2017-03-02T09:00:00Z"},
    deal("t2", "ta", "TA", 1, "Tom", "won", "999", closed_on="2017-01-05"),
]
LATER = [  # while it runs
    deal("t1", "c1", "C", 1, "Ann", "won", "5000", engaged_on="2017-02-27", closed_on="2017-03-01"),
    deal("t1", "d1", "D", 1, "Cy", "lost", "0", closed_on="2017-03-02"),
    deal("t1", "b2", "B", 2, "Bob", "won", "300", engaged_on="2017-03-01", closed_on="2017-03-03"),
    deal("t2", "tb", "TB", 1, "Tom", "open", None),
]


def want_rows(events: list[dict[str, Any]]) -> dict[str | None, dict[str, Any]]:
    """Tenant t1's rows by rep (no reference data was loaded: none is needed for reps)."""
    return {r["key"]: r for r in reference_kpis(events, RefData(), tenant="t1", extra=EXTRA,
                                                     kpis_plugin=KPIS_PLUGIN)["rep"]}


def last_json_rows(lines: list[str]) -> dict[str | None, dict[str, Any]]:
    """The newest printed row of each key (without its computed_at)."""
    out = {}
    for line in lines:
        row = json.loads(line, parse_float=Decimal)
        assert row.pop("computed_at")
        out[row["key"]] = row
    return out


def publish(stream: StreamEnv, name: str, events: list[dict[str, Any]]) -> None:
    stream.attain(["publish", str(write_lines(stream.tmp / name, [json.dumps(e).encode() for e in events]))])


def follow(stream: StreamEnv, *args: str, replay: bool = True) -> Lines:
    env = {"ATTAIN_FOLLOW_FROM_BEGINNING": "1"} if replay else {}
    return Lines(stream.publish_async(["kpi", "--follow", "--by", "rep", "--tenant", "t1", *args], env))


def test_follow_prints_live_rows_of_one_tenant(stream: StreamEnv) -> None:
    url = stream.db()
    Store(url).dispose()  # the schema, for the polls below
    worker = stream.start_worker(url)
    publish(stream, "first.jsonl", FIRST)
    stream.wait("the first events processed", lambda: (outcomes(url, "t1"), outcomes(url, "t2")) == (4, 1))

    # Replaying the topic, then live: Ann 1,000.50 won and a call, Bob 300 open …
    live = follow(stream, "--format", "json", "--timeout", "240")
    try:
        first = want_rows(FIRST)
        assert set(first) == {"Ann", "Bob"}
        live.until("the first events' rows", lambda lines: last_json_rows(lines) == first)
        # … then the events published after the follow started: Ann 6,000.50 won (big deal),
        # Bob won 300, Cy lost one.
        publish(stream, "later.jsonl", LATER)
        later = want_rows(FIRST + LATER)
        assert later["Ann"]["won_revenue"] == Decimal("6000.50") and set(later) == {"Ann", "Bob", "Cy"}
        live.until("the later events' rows", lambda lines: last_json_rows(lines) == later)
        # The tenant filter: t2's rep (Tom) was never printed.
        assert {json.loads(line)["key"] for line in live.seen} == {"Ann", "Bob", "Cy"}
    finally:
        live.stop()
    stream.wait("every event processed", lambda: (outcomes(url, "t1"), outcomes(url, "t2")) == (7, 2))

    # CSV and the table, replaying everything until --timeout: the newest row of each key.
    for fmt in ("csv", "table"):
        proc = stream.attain(["kpi", "--follow", "--by", "rep", "--tenant", "t1", "--format", fmt,
                              "--timeout", "10"], {"ATTAIN_FOLLOW_FROM_BEGINNING": "1"}, timeout=120)
        if fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(proc.stdout, newline="")))
            assert list(rows[0])[:9] == ["key", "won_revenue", "won_deals", "lost_deals", "open_deals",
                                         "win_rate", "avg_deal_size", "avg_cycle_days", "pipeline_value"]
            assert list(rows[0])[-1] == "computed_at"
            newest = {r["key"]: {k: v for k, v in r.items() if k != "computed_at"} for r in rows}
            # exact decimals, as short as they go (1000.5, 17; empty for null)
            assert newest == {key: {k: v if k == "key" else "" if v is None else format(v.normalize(), "f")
                                    for k, v in row.items()} for key, row in later.items()}
        else:
            newest_text: dict[str, dict[str, str]] = {}
            for line in proc.stdout.splitlines():
                stamp, key, *figures = line.split("  ")
                assert stamp.endswith("Z") and key.startswith("rep=")
                newest_text[key[4:]] = dict(f.split("=", 1) for f in figures)
            assert newest_text == {
                key: {k: money(v) if k in MONEY else plain(v) for k, v in row.items() if k != "key"}
                for key, row in later.items()}

    # --max-updates: exactly that many rows, then it exits.
    proc = stream.attain(["kpi", "--follow", "--by", "rep", "--tenant", "t1", "--format", "json",
                          "--max-updates", "2", "--timeout", "120"], {"ATTAIN_FOLLOW_FROM_BEGINNING": "1"})
    assert len(proc.stdout.splitlines()) == 2
    assert {json.loads(line)["key"] for line in proc.stdout.splitlines()} <= set(later)
    # Without the replay it starts at the newest update: nothing new arrives, nothing is printed.
    proc = stream.attain(["kpi", "--follow", "--by", "rep", "--tenant", "t1", "--timeout", "4"])
    assert proc.stdout == ""
    assert worker.stop() == 0

