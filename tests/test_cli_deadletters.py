"""Dead letters: the reason and payload the attain_event_rejected hook receives, and
`attain deadletter list` in every format with payloads full of commas, quotes, line breaks,
non-ASCII text and strings that look like rich markup."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from attain.core import hookimpl
from attain.core.engine import Engine, Record
from attain.core.plugins import get_plugins
from attain.core.store import Store
from testkit import Cli, table_rows


def deal(eid: str, did: str, status: str, amount: str | None = None, **extra: Any) -> dict[str, Any]:
    ev = {"type": "deal", "event_id": eid, "deal_id": did, "version": 1,
          "occurred_at": "2017-03-01T10:00:00Z", "owner": "Ann", "stage": status.title(), "status": status}
    if amount is not None:
        ev["amount"] = amount
    return {**ev, **extra}


no_deal_id = deal("x3", "X3", "open")
del no_deal_id["deal_id"]
# line number: (text, the reason stored and handed to attain_event_rejected). The reasons are
# pydantic's messages as explain_validation shortens them ("field: message").
REJECTED: dict[int, tuple[str, str]] = {
    2: ('{"type": "deal", "event_id": "broken", ', "invalid JSON: EOF while parsing a value at line 1 column 38"),
    3: (json.dumps(no_deal_id), "deal_id: Field required"),
    4: (json.dumps(deal("x4", "X4", "won", "-5", closed_on="2017-02-01")),
        "amount: Input should be greater than or equal to 0"),
    5: (json.dumps(deal("x5", "X5", "pending")), "status: Input should be 'open', 'won', 'lost' or 'deleted'"),
    6: (json.dumps(deal("x6", "X6", "won", "10", engaged_on="2017-02-01", closed_on="2017-01-01")),
        "Value error, closed_on 2017-01-01 is before engaged_on 2017-02-01"),
    7: (json.dumps(deal("x7", "X7", "won", closed_on="2017-01-01")),
        "Value error, a won deal needs an amount (0 is allowed)"),
    8: ('{"type": "spaceship", "event_id": "s1"}',
        "Input tag 'spaceship' found using 'type' does not match any of the expected tags: "
        "'deal', 'lead', 'activity', 'customer', 'cost', 'rep'"),
    9: ("[1, 2, 3]", "Input should be an object"),
    10: (json.dumps({**deal("x10", "X10", "open"), "tenant": "globex"}),
         "tenant: event is for tenant 'globex', not 'acme'"),
    11: (json.dumps(deal("x11", "X11", "open", currency="usd")), "currency: String should match pattern '^[A-Z]{3}$'"),
}
VALID = {1: json.dumps(deal("ok1", "OK1", "won", "10", closed_on="2017-03-01")),
         13: json.dumps(deal("ok2", "OK2", "open"))}  # line 12 is blank


class Rejections:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, str]] = []

    @hookimpl
    def attain_event_rejected(self, tenant: str, reason: str, payload: str, source: str) -> None:
        self.calls.append((tenant, reason, payload, source))


@pytest.fixture
def rejections() -> Iterator[Rejections]:
    """A plugin object registered in-process on the CLI's plugin manager for one test."""
    plugins = get_plugins()
    rec = Rejections()
    plugins.register(rec, "rejections")
    try:
        yield rec
    finally:
        plugins.unregister("rejections")


def test_the_rejected_hook_gets_each_bad_lines_tenant_reason_payload_and_source(
        cli: Cli, tmp_path: Path, rejections: Rejections) -> None:
    path = tmp_path / "events.jsonl"
    lines = {**{n: t for n, (t, _) in REJECTED.items()}, **VALID, 12: ""}
    path.write_text("\n".join(lines[n] for n in range(1, 14)) + "\n")
    out = cli("ingest", str(path), "--tenant", "acme", "--quiet").stdout
    assert out.strip() == f"accepted 2, duplicates 0, stale 0, conflicts 0, rejected {len(REJECTED)}"
    # The payload is the line without its outer blanks (line 2 ends with a space).
    assert rejections.calls == [("acme", reason, text.strip(), f"events.jsonl:{n}")
                                for n, (text, reason) in sorted(REJECTED.items())]
    stored = cli.json("deadletter", "list", "--tenant", "acme", "--format", "json")
    assert [(d["reason"], d["payload"], d["source"], d["line"]) for d in stored] == [
        (reason, text.strip(), f"events.jsonl:{n}", n) for n, (text, reason) in sorted(REJECTED.items())]


def test_the_rejected_hook_gets_the_payload_as_given_to_the_engine(sqlite_url: str,
                                                                   rejections: Rejections) -> None:
    """Records handed to Engine.process (not lines of a file): the payload text unchanged, line
    breaks included, the tenant the batch's dead letters go to, the source as given."""
    store = Store(sqlite_url)
    try:
        engine = Engine(store, get_plugins())
        res = engine.process([Record('{\n  "type": "deal"\n}', source="api:1"),
                              Record(b"caf\xc3\xa9 \xff", source="api:2")], default_tenant="t9")
    finally:
        store.dispose()
    assert res.rejected == 2
    assert rejections.calls == [
        # the first five missing fields, then how many more (stage and status)
        ("t9", "event_id: Field required; occurred_at: Field required; deal_id: Field required; "
               "version: Field required; owner: Field required; and 2 more", '{\n  "type": "deal"\n}', "api:1"),
        # bytes that are not UTF-8 reach the hook (and the store) with U+FFFD in their place
        ("t9", "invalid JSON: expected value at line 1 column 1", "café \N{REPLACEMENT CHARACTER}", "api:2"),
    ]


# -- `attain deadletter list` ----------------------------------------------------------------------

HOSTILE_LINES = [
    '{"note": "a, b, c", "quote": "say \\"hi\\"",',        # commas and escaped quotes, cut short
    'he said "no", then left',                              # quotes and a comma, not JSON
    '{"carriage": "in\rside", "type": "deal"}',             # a bare carriage return inside
    'ünïcödé, "🎉"',                                         # non-ASCII
    "[/oops] [bold]markup[/bold]",                          # looks like rich markup
    '  padded, "and quoted"  \t',                           # stored without the outer blanks
    "x" * 60 + ', "' + "y" * 60 + '"',                      # longer than the table shows
]
API_PAYLOADS = ['{\n  "type": "deal",\n  "note": "multi, \\"line\\""\n}', "one\r\ntwo, \"three\""]


@pytest.fixture
def hostile(cli: Cli, tmp_path: Path) -> list[tuple[str, str | None, str]]:
    """(source, line, payload) of every dead letter, in the order they were stored."""
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(line.encode() for line in HOSTILE_LINES) + b"\n")
    assert cli("ingest", str(path), "--quiet").stdout.strip() == (
        f"accepted 0, duplicates 0, stale 0, conflicts 0, rejected {len(HOSTILE_LINES)}")
    store = Store(cli.db_url)
    try:
        Engine(store, get_plugins()).process([Record(p, source="api") for p in API_PAYLOADS])
    finally:
        store.dispose()
    return ([("hostile.jsonl:" + str(i), str(i), line.strip())
             for i, line in enumerate(HOSTILE_LINES, start=1)]
            + [("api", None, p) for p in API_PAYLOADS])


def csv_rows(cli: Cli, *args: str) -> list[dict[str, str]]:
    # The bytes as written: click's Result.stdout turns "\r\n" into "\n", even inside a field.
    out = cli("deadletter", "list", "--format", "csv", *args).stdout_bytes.decode()
    return list(csv.DictReader(io.StringIO(out, newline="")))


def test_deadletter_csv_quotes_every_payload_exactly(cli: Cli, hostile: list[tuple[str, str | None, str]]) -> None:
    rows = csv_rows(cli)
    assert [(r["source"], r["line"] or None, r["payload"]) for r in rows] == hostile
    letters = cli.json("deadletter", "list", "--format", "json")
    assert [d["payload"] for d in letters] == [p for _, _, p in hostile]
    assert [r["reason"] for r in rows] == [d["reason"] for d in letters]
    assert [r["id"] for r in rows] == [str(d["id"]) for d in letters]
    assert rows[0]["reason"] == "invalid JSON: EOF while parsing a value at line 1 column 42"
    assert [(r["source"], r["payload"]) for r in csv_rows(cli, "--limit", "2")] == [
        (s, p) for s, _, p in hostile[:2]]


def test_deadletter_table_shows_source_reason_and_payload(
        cli: Cli, hostile: list[tuple[str, str | None, str]], wide: int) -> None:
    out = cli("deadletter", "list").stdout
    assert out.splitlines()[0].strip() == f"Dead letters (tenant default): {len(hostile)}"
    header, rows = table_rows(out)
    assert header == ["source", "reason", "payload"]
    letters = cli.json("deadletter", "list", "--format", "json")
    assert [r[0] for r in rows] == [s for s, _, _ in hostile]
    assert [r[1] for r in rows] == [d["reason"] for d in letters]
    shown = dict(zip([s for s, _, _ in hostile], [r[2] for r in rows], strict=True))
    for line in (2, 4, 5, 6):  # one-line payloads, shown as they are (markup included)
        assert shown[f"hostile.jsonl:{line}"] == HOSTILE_LINES[line - 1].strip()
    long = HOSTILE_LINES[6]
    assert len(long) >= 120 and shown["hostile.jsonl:7"] == long[:117] + "…"
