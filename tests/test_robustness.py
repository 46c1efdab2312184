"""Hostile input: nothing valid is lost, everything invalid is a dead letter with a clear reason,
and every failing command is one line (issue 11; each test is built on a reproduction).

* Fields the store cannot hold (a version of 2**63, a 20 MB owner, a date with no UTC day, a NUL)
  are bounded in the model, so they are dead letters.
* The engine itself survives the next such case: when a batch's write fails for a reason tied to
  an event's content, the batch is written again in halves until the events the database refuses
  are found; they are dead-lettered with the database's message and every other event commits.
* A reused event id with different content is a *conflict*: the first event is kept.
* A dead letter keeps the original bytes of input that is not valid UTF-8.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from attain.core import hookimpl
from attain.core.connectors import Batch
from attain.core.engine import CONFLICT_REASON, Engine, Record
from attain.core.models import DealEvent
from attain.core.plugins import Plugins
from attain.core.store import Store
from testkit import Cli, load_json

BIG_VERSION = 9223372036854775808  # 2**63: one more than a signed 64-bit integer holds


def deal(event_id: str, deal_id: str, version: int = 1, owner: str = "Ann", status: str = "won",
         amount: str | None = "10", **extra: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {"type": "deal", "event_id": event_id, "deal_id": deal_id, "version": version,
                          "occurred_at": "2017-03-01T10:00:00Z", "owner": owner, "stage": status.title(),
                          "status": status, **extra}
    if amount is not None:
        ev["amount"] = amount
    return ev


def line(ev: dict[str, Any]) -> str:
    return json.dumps(ev, separators=(",", ":"))


def summary(accepted: int = 0, duplicates: int = 0, stale: int = 0, conflicts: int = 0,
            rejected: int = 0) -> str:
    return (f"accepted {accepted}, duplicates {duplicates}, stale {stale}, "
            f"conflicts {conflicts}, rejected {rejected}")


# -- fields the store cannot hold are dead letters ----------------------------------------------


def test_a_version_of_2_63_is_a_dead_letter_not_a_crash(cli: Cli) -> None:
    """The reproduction: `echo '{… "version":9223372036854775808 …}' | attain ingest -` crashed
    with OverflowError and lost the batch."""
    bad = line(deal("big", "BIG", BIG_VERSION, "X", amount="1"))
    res = cli("ingest", "-", input=bad + "\n")
    assert res.stdout.strip() == summary(rejected=1)
    [dl] = cli.json("deadletter", "list", "--format", "json")
    assert dl["source"] == "stdin:1" and dl["payload"] == bad
    assert dl["reason"] == "version: Input should be less than or equal to 9223372036854775807"


def test_the_valid_events_around_an_oversized_version_all_count(cli: Cli, tmp_path: Path) -> None:
    """The bad line in the middle of the second of three batches: before the fix only the first
    batch was committed and a rerun failed the same way."""
    lines = [line(deal(f"e{i}", f"D{i}", owner=f"R{i % 3}", amount="2")) for i in range(1201)]
    lines[600] = line(deal("big", "BIG", BIG_VERSION, "X", amount="1"))
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    res = cli("ingest", str(path), "--batch-size", "500")
    assert res.stdout.strip() == summary(accepted=1200, rejected=1)
    [row] = cli.kpis("all")
    assert (row["won_deals"], row["won_revenue"]) == (1200, Decimal(2400))
    again = cli("ingest", str(path), "--batch-size", "500")
    assert again.stdout.strip() == summary(duplicates=1200, rejected=1)


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("owner", "x" * 20_000_000, "owner: String should have at most 200 characters"),
    ("stage", "s" * 101, "stage: String should have at most 100 characters"),
    ("account", "a" * 201, "account: String should have at most 200 characters"),
    ("deal_id", "d" * 201, "deal_id: String should have at most 200 characters"),
    ("occurred_at", "0001-01-01T00:00:00+05:00",
     "occurred_at: Value error, date and time out of range once converted to UTC"),
    ("occurred_at", "9999-12-31T23:00:00-05:00",
     "occurred_at: Value error, date and time out of range once converted to UTC"),
    ("owner", "Ann\u0000", "text fields must not contain the NUL character (\\u0000)"),
])
def test_fields_the_store_cannot_hold_are_dead_letters(cli: Cli, field: str, value: str,
                                                       reason: str) -> None:
    good = line(deal("ok", "OK"))
    bad = line({**deal("bad", "BAD"), field: value})
    res = cli("ingest", "-", input=f"{good}\n{bad}\n")
    assert res.stdout.strip() == summary(accepted=1, rejected=1)
    [dl] = cli.json("deadletter", "list", "--format", "json")
    assert (dl["source"], dl["reason"]) == ("stdin:2", reason)
    assert dl["payload"] == bad
    assert cli.kpis("all")[0]["won_deals"] == 1


def test_a_lead_answered_before_it_arrived_is_a_dead_letter(cli: Cli) -> None:
    """The reproduction gave an average response of −0.5 h."""
    lead = {"type": "lead", "event_id": "l1", "lead_id": "L1", "kind": "mql", "owner": "Ann",
            "occurred_at": "2017-01-01T10:00:00+05:00", "first_response_at": "2017-01-01T04:30:00Z"}
    ok = {**lead, "event_id": "l2", "first_response_at": "2017-01-01T05:30:00Z"}  # 30 min after
    res = cli("ingest", "-", input=f"{json.dumps(lead)}\n{json.dumps(ok)}\n")
    assert res.stdout.strip() == summary(accepted=1, rejected=1)
    [dl] = cli.json("deadletter", "list", "--format", "json")
    assert dl["reason"] == ("Value error, first_response_at 2017-01-01T04:30:00+00:00 is before "
                            "occurred_at 2017-01-01T10:00:00+05:00")
    assert cli.kpis("rep")[0]["avg_first_response_hours"] == Decimal("0.5")


# -- the engine isolates events the database refuses --------------------------------------------


def _valid(i: int, owner: str = "R") -> DealEvent:
    return DealEvent(event_id=f"e{i}", deal_id=f"D{i}", version=1,
                     occurred_at=dt.datetime(2017, 3, 1), owner=owner, stage="Won",
                     status="won", amount=Decimal(2), closed_on=dt.date(2017, 3, 1))


def _unstorable(i: int, **bad: Any) -> DealEvent:
    """A deal event built without validation (as a connector may hand the engine objects) that
    holds what the database cannot store."""
    return DealEvent.model_construct(**{**_valid(i).__dict__, "event_id": f"poison{i}",
                                        "deal_id": f"P{i}", **bad})


def test_events_the_database_refuses_are_found_and_every_other_event_commits(engine: Engine) -> None:
    records = [Record(_valid(i), "batch", i + 1, numbered=True) for i in range(1000)]
    records[700] = Record(_unstorable(700, version=BIG_VERSION), "batch", 701, numbered=True)
    records[3] = Record(_unstorable(3, owner="\ud800"), "batch", 4, numbered=True)  # lone surrogate
    result = engine.process(records)
    assert result.as_dict() == {"accepted": 998, "duplicates": 0, "stale": 0, "conflicts": 0,
                                "rejected": 2}
    letters = {d.source: d for d in engine.store.deadletters("default")}
    assert set(letters) == {"batch:4", "batch:701"}
    assert letters["batch:701"].reason.startswith("cannot be stored: ")
    assert json.loads(letters["batch:701"].payload)["version"] == BIG_VERSION
    # the surrogate's text cannot be stored as such: shown escaped, the bytes kept exactly
    assert json.loads(letters["batch:4"].payload)["owner"] == "\ud800"
    [row] = engine.kpis("default", "all")
    assert (row["won_deals"], row["won_revenue"]) == (998, Decimal(1996))
    counters = engine.store.counters("default")
    assert counters['attain_events_total{outcome="accepted"}'] == 998
    assert counters['attain_events_total{outcome="rejected"}'] == 2


def test_isolation_keeps_the_order_of_a_deals_versions(engine: Engine) -> None:
    """After a refused event, the batch's other parts are written in order: a deal's later
    version still wins over its earlier one, as without the refused event."""
    v1 = _valid(1)
    v2 = v1.model_copy(update={"event_id": "e1-v2", "version": 2, "owner": "Bob",
                               "amount": Decimal(7)})
    records = [Record(v1), Record(_unstorable(9, version=BIG_VERSION)), Record(v2)]
    result = engine.process(records)
    assert (result.accepted, result.rejected) == (2, 1)
    assert {d.deal_id: (d.version, d.owner) for d in engine.deals("default")} == {"D1": (2, "Bob")}
    assert [(r["key"], r["won_revenue"]) for r in engine.kpis("default", "rep")] == [("Bob", Decimal(7))]


def test_an_import_through_a_connector_loses_no_valid_event(sqlite_url: str) -> None:
    """`attain import` goes through the same isolation: one unstorable event from a connector
    costs only itself."""

    class PoisonConnector:
        name = "poison"
        description = "test connector handing over an unstorable event"

        def read(self, source: str, tenant: str) -> Batch:
            events = [_valid(i) for i in range(50)]
            events[25] = _unstorable(25, version=BIG_VERSION)
            return Batch(records=[Record(e, source, i, numbered=True) for i, e in enumerate(events)],
                         total=50)

    class Plugin:
        @hookimpl
        def attain_register_connectors(self, register: Any) -> None:
            register(PoisonConnector())

    plugins = Plugins(load_entry_points=False)
    plugins.register(Plugin(), name="poison_plugin")
    from attain.core.cli import import_source

    store = Store(sqlite_url)
    try:
        engine = Engine(store, plugins)
        result = import_source(engine, "poison", "src", "default", quiet=True)
        assert (result.accepted, result.rejected) == (49, 1)
        [dl] = store.deadletters("default")
        assert dl.source == "src:25"
        assert engine.kpis("default", "all")[0]["won_deals"] == 49
    finally:
        store.dispose()


# -- a reused event id with different content ---------------------------------------------------


def test_a_reused_event_id_with_other_content_is_a_conflict_not_a_duplicate(cli: Cli) -> None:
    """The reproduction: a different deal with the same event id silently vanished."""
    first = line(deal("e-1", "D1", owner="Ann", amount="100"))
    same = json.dumps(json.loads(first), indent=1)  # the same event, written differently
    same_number = line(deal("e-1", "D1", owner="Ann", amount="100.00"))  # the same amount
    other = line(deal("e-1", "D2", owner="Bob", amount="999"))
    res = cli("ingest", "-", input=f"{first}\n{other}\n")
    assert res.stdout.strip() == summary(accepted=1, conflicts=1)
    res = cli("ingest", "-", input=f"{other}\n{same_number}\n" + same.replace("\n", " ") + "\n")
    assert res.stdout.strip() == summary(duplicates=2, conflicts=1)
    letters = cli.json("deadletter", "list", "--format", "json")
    assert [(d["source"], d["reason"], d["payload"]) for d in letters] == [
        ("stdin:2", CONFLICT_REASON, other), ("stdin:1", CONFLICT_REASON, other)]
    assert [(r["key"], r["won_revenue"]) for r in cli.kpis("rep")] == [("Ann", Decimal(100))]
    stats = {r["name"]: r["value"] for r in cli.json("stats", "--format", "json")}
    assert stats['attain_events_total{outcome="conflict"}'] == 2
    assert stats['attain_events_total{outcome="duplicate"}'] == 2


# -- dead letters keep the original bytes ---------------------------------------------------------


def test_a_dead_letter_keeps_the_bytes_of_invalid_utf8_exactly(cli: Cli) -> None:
    raw = b'{"type":"deal","event_id":"\xff\xfe x","owner":"caf\xe9"}'
    res = cli("ingest", "-", input=raw + b"\n" + line(deal("ok", "OK")).encode() + b"\n")
    assert res.stdout.strip() == summary(accepted=1, rejected=1)
    [dl] = cli.json("deadletter", "list", "--format", "json")
    assert base64.b64decode(dl["payload_base64"]) == raw
    assert dl["payload"] == raw.decode("utf-8", "replace")
    assert dl["reason"].startswith("invalid JSON: ")
    csv_text = cli("deadletter", "list", "--format", "csv").stdout
    assert base64.b64encode(raw).decode() in csv_text


def test_a_valid_utf8_dead_letter_has_no_second_copy(cli: Cli) -> None:
    cli("ingest", "-", input="not json\n")
    [dl] = cli.json("deadletter", "list", "--format", "json")
    assert (dl["payload"], dl["payload_base64"]) == ("not json", None)


# -- every failing command is one line ------------------------------------------------------------


def _one_line_error(res: Any, code: int, text: str) -> None:
    assert res.exit_code == code, (res.exit_code, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    assert res.stderr.count("\n") == 1 and res.stderr.startswith("error: "), res.stderr
    assert text in res.stderr, res.stderr


def _attain(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real `attain` entry point in a subprocess (its own exit path and stderr)."""
    import os

    return subprocess.run([sys.executable, "-c", "from attain.core.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ATTAIN_DEBUG": "", **(env or {})})


def _damaged_copy(sqlite_url: str, tmp_path: Path, how: str) -> str:
    cli = Cli(sqlite_url)
    cli("ingest", "-", input="\n".join(line(deal(f"e{i}", f"D{i}")) for i in range(2000)) + "\n")
    src = Path(sqlite_url.removeprefix("sqlite:///"))
    data = src.read_bytes()
    dst = tmp_path / f"{how}.db"
    dst.write_bytes(data[:3000] if how == "truncated" else data[:100] + b"\x00garbage" * 4000)
    return f"sqlite:///{dst}"


@pytest.mark.parametrize("how", ["truncated", "corrupted"])
def test_a_damaged_sqlite_file_is_one_line(sqlite_url: str, tmp_path: Path, how: str) -> None:
    url = _damaged_copy(sqlite_url, tmp_path, how)
    res = _attain("--db", url, "kpi")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert res.stderr.startswith(f"error: the database {url} is damaged or is not an Attain database (")
    assert res.stderr.count("\n") == 1
    debug = _attain("--db", url, "--debug", "kpi")
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_a_database_in_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/missing/dir/attain.db"
    _one_line_error(Cli(url)("kpi", ok=False), 1,
                    f"error: cannot open the database {url}: unable to open database file")


def test_an_unreachable_postgresql_is_one_line_without_its_password() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg://attain:s3cret-pw@127.0.0.1:{port}/attain"
    res = _attain("--db", url, "kpi")
    assert res.returncode == 1 and "Traceback" not in res.stderr and res.stderr.count("\n") == 1
    assert res.stderr.startswith(f"error: database error (postgresql+psycopg://attain:***@127.0.0.1:{port}/attain): ")
    assert "s3cret-pw" not in res.stderr + res.stdout


def test_the_store_url_to_print_hides_its_password(tmp_path: Path) -> None:
    """What the stream worker's start-up line and `attain publish` print of the store."""
    from types import SimpleNamespace

    url = "postgresql+psycopg://attain:s3cret-pw@db.internal:5432/attain?sslmode=require"
    shown = Store.display_url.fget(SimpleNamespace(url=url))  # type: ignore[attr-defined]
    assert shown == "postgresql+psycopg://attain:***@db.internal:5432/attain?sslmode=require"
    sqlite = f"sqlite:///{tmp_path / 'a.db'}"
    store = Store(sqlite)
    assert store.display_url == sqlite
    store.dispose()


def test_an_unknown_database_scheme_is_one_line() -> None:
    _one_line_error(Cli("bogus://x")("kpi", ok=False), 2,
                    "error: cannot use bogus://x: Can't load plugin: sqlalchemy.dialects:bogus")


def test_ingest_of_a_directory_or_a_missing_file_is_one_line(cli: Cli, tmp_path: Path) -> None:
    _one_line_error(cli("ingest", str(tmp_path), ok=False), 2,
                    f"error: {tmp_path} is a directory, not a file of events")
    _one_line_error(cli("ingest", str(tmp_path / "nope.jsonl"), ok=False), 2,
                    f"error: no such file: {tmp_path / 'nope.jsonl'}")


def test_an_unreadable_file_is_one_line(sqlite_url: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Permissions do not stop root (the test user here), so the operating system's refusal is
    raised where the file is opened."""
    path = tmp_path / "events.jsonl"
    path.write_text(line(deal("e", "D")) + "\n")
    real_open = Path.open

    def refuse(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    _one_line_error(Cli(sqlite_url)("ingest", str(path), ok=False), 1,
                    f"error: Permission denied: {path}")


def test_an_unexpected_error_is_one_line_with_a_hint(sqlite_url: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("something broke\nsecond line")

    monkeypatch.setattr(Engine, "kpis", broken)
    _one_line_error(Cli(sqlite_url)("kpi", ok=False), 1,
                    "error: RuntimeError: something broke (an unexpected error; run with --debug "
                    "for the traceback)")


def test_json_numbers_stay_exact_in_dead_letter_listing(cli: Cli) -> None:
    """A listing is read back exactly (numbers never through float)."""
    cli("ingest", "-", input='{"type":"deal","amount":1e400}\n')
    [dl] = load_json(cli("deadletter", "list", "--format", "json").stdout)
    assert dl["payload"] == '{"type":"deal","amount":1e400}'


def test_a_record_survives_pickling_whole() -> None:
    """A stream worker pickles every batch's records to its writer process: each comes back
    with its payload, its lazily built source, its line and a known-invalid reason."""
    import pickle

    records = [Record(b'{"type": "deal"}', "kafka:attain.events/2", 17, numbered=True),
               Record('{"a": 1}', "upload.jsonl"),
               Record({"type": "lead"}, "api", reason="truncated row")]
    back = pickle.loads(pickle.dumps(records, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == records
    assert [r.source for r in back] == ["kafka:attain.events/2:17", "upload.jsonl", "api"]
    assert [r.reason for r in back] == [None, None, "truncated row"]
