"""`attain ingest` (file and stdin), the dead-letter store, `--tenant`, and `attain schema`."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from attain.core.engine import Engine
from testkit import Cli, load_json

GROUPINGS = ["all", "rep", "manager", "region", "product", "series", "sector", "account",
             "quarter"]


def deal(event_id: str, deal_id: str, version: int, owner: str, status: str,
         amount: str | None = None, **extra: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {"type": "deal", "event_id": event_id, "deal_id": deal_id,
                          "version": version, "occurred_at": "2017-03-01T10:00:00Z",
                          "owner": owner, "product": "GTX Pro", "account": "Acme",
                          "stage": status.title(), "status": status}
    if amount is not None:
        ev["amount"] = amount
    ev.update(extra)
    return ev


# Line numbers are 1-based and count blank lines, as an editor shows them.
VALID: dict[int, dict[str, Any]] = {
    1: deal("a-1", "A", 1, "Ann", "open", "1000"),
    2: deal("a-2", "A", 2, "Ann", "won", "1200.50", engaged_on="2017-01-05",
            closed_on="2017-02-10"),
    9: deal("b-3", "B", 3, "Bob", "lost", "0", engaged_on="2017-01-01", closed_on="2017-04-02"),
    11: deal("c-2", "C", 2, "Bob", "open", "300.25"),
    12: deal("c-1", "C", 1, "Bob", "open", "100"),  # an older version arriving late: stale
    13: {"type": "activity", "event_id": "act-1", "occurred_at": "2017-03-02T09:00:00Z",
         "activity_id": "act-1", "kind": "call", "owner": "Ann", "deal_id": "A"},
    14: {"type": "lead", "event_id": "lead-1", "occurred_at": "2017-03-02T09:30:00Z",
         "lead_id": "L1", "kind": "mql", "source": "webinar"},
}
missing_deal_id = deal("x-5", "X", 1, "Ann", "open")
del missing_deal_id["deal_id"]
INVALID: dict[int, tuple[str, tuple[str, ...]]] = {
    # line: (text, words the dead-letter reason must contain)
    4: ('{"type": "deal", "event_id": "broken", ', ("json",)),
    5: (json.dumps(missing_deal_id), ("deal_id", "required")),
    6: (json.dumps(deal("x-6", "X6", 1, "Ann", "won", "-5", closed_on="2017-02-01")),
        ("amount", "greater than or equal to 0")),
    7: (json.dumps(deal("x-7", "X7", 1, "Ann", "pending")), ("status",)),
    8: (json.dumps(deal("x-8", "X8", 1, "Ann", "won", "10", engaged_on="2017-02-01",
                        closed_on="2017-01-01")), ("closed_on", "engaged_on")),
}
BLANK = {3: "", 10: "   \t"}
N_LINES = 14


def jsonl() -> str:
    lines = []
    for n in range(1, N_LINES + 1):
        if n in VALID:
            lines.append(json.dumps(VALID[n]))
        elif n in INVALID:
            lines.append(INVALID[n][0])
        else:
            lines.append(BLANK[n])
    return "\n".join(lines) + "\n"


def expected_by_rep() -> dict[str, dict[str, Decimal]]:
    """Won/lost/open counts, revenue and pipeline per rep from the valid lines' latest versions."""
    latest: dict[str, dict[str, Any]] = {}
    for ev in VALID.values():
        if ev["type"] == "deal":
            cur = latest.get(ev["deal_id"])
            if cur is None or ev["version"] > cur["version"]:
                latest[ev["deal_id"]] = ev
    out: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for ev in latest.values():
        row = out[ev["owner"]]
        if ev["status"] == "won":
            row["won_deals"] += 1
            row["won_revenue"] += Decimal(ev["amount"])
        elif ev["status"] == "lost":
            row["lost_deals"] += 1
        else:
            row["open_deals"] += 1
            row["pipeline_value"] += Decimal(ev["amount"])
    return out


def summary(accepted: int, duplicates: int, stale: int, rejected: int) -> str:
    return f"accepted {accepted}, duplicates {duplicates}, stale {stale}, conflicts 0, rejected {rejected}"


N_DEALS_AND_FACTS = len(VALID) - 1  # every valid line but the stale one is accepted
FIRST_RUN = summary(N_DEALS_AND_FACTS, 0, 1, len(INVALID))


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text(jsonl())
    return path


def check_kpis(cli: Cli) -> None:
    rows = {r["key"]: r for r in cli.kpis("rep")}
    want = expected_by_rep()
    # The owner-less lead (line 14) is counted under the unknown rep (key null), and Ann's call.
    assert rows.pop(None)["mqls"] == 1
    assert rows["Ann"]["calls"] == 1
    assert set(rows) == set(want)
    for rep, kpis in want.items():
        for name in ("won_deals", "lost_deals", "open_deals", "won_revenue", "pipeline_value"):
            assert rows[rep][name] == kpis[name], (rep, name, rows[rep][name], kpis[name])


def check_deadletters(cli: Cli, source: str) -> None:
    letters = cli.json("deadletter", "list", "--format", "json")
    by_line = {d["line"]: d for d in letters}
    assert len(letters) == len(INVALID) and set(by_line) == set(INVALID), letters
    for line, (text, words) in INVALID.items():
        d = by_line[line]
        assert d["source"] == f"{source}:{line}"
        assert d["payload"] == text.strip()
        for word in words:
            assert word.lower() in d["reason"].lower(), (
                f"line {line}: reason {d['reason']!r} does not mention {word!r}")


@pytest.mark.parametrize("batch_size", ["5000", "2"])
def test_ingest_file_counts_valid_lines_and_dead_letters_the_rest(
        cli: Cli, events_file: Path, batch_size: str) -> None:
    out = cli("ingest", str(events_file), "--batch-size", batch_size).stdout
    assert out.strip() == FIRST_RUN
    check_kpis(cli)
    check_deadletters(cli, "events.jsonl")


def test_ingest_stdin(cli: Cli) -> None:
    out = cli("ingest", "-", input=jsonl()).stdout
    assert out.strip() == FIRST_RUN
    check_kpis(cli)
    check_deadletters(cli, "stdin")


def test_reingesting_the_same_file_reports_duplicates_and_changes_no_kpi(
        cli: Cli, events_file: Path) -> None:
    assert cli("ingest", str(events_file)).stdout.strip() == FIRST_RUN
    before = {g: cli.kpis(g) for g in GROUPINGS}
    again = cli("ingest", str(events_file)).stdout.strip()
    # Every valid line, the stale one included, was logged the first time: now all duplicates.
    assert again == summary(0, len(VALID), 0, len(INVALID))
    assert {g: cli.kpis(g) for g in GROUPINGS} == before


def test_deadletter_table_and_csv(cli: Cli, events_file: Path) -> None:
    cli("ingest", str(events_file))
    csv_out = cli("deadletter", "list", "--format", "csv").stdout
    assert csv_out.splitlines()[0] == "id,source,line,reason,payload,created_at,payload_base64"
    assert len(csv_out.strip().splitlines()) == 1 + len(INVALID)
    limited = cli.json("deadletter", "list", "--format", "json", "--limit", "2")
    assert [d["line"] for d in limited] == sorted(INVALID)[:2]


TENANT_LINES = [
    deal("t-1", "T1", 1, "Ann", "won", "500", closed_on="2017-05-05"),
    {**deal("t-2", "T2", 1, "Bob", "open", "70"), "tenant": "acme"},
    {**deal("t-3", "T3", 1, "Cy", "won", "900", closed_on="2017-05-06"), "tenant": "globex"},
    {"type": "customer", "event_id": "cust-1", "occurred_at": "2017-06-01T00:00:00Z",
     "account": "Acme", "kind": "renewed", "amount": "1000"},
]


@pytest.fixture
def tenant_file(tmp_path: Path) -> Path:
    path = tmp_path / "tenants.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in TENANT_LINES))
    return path


def test_tenant_option_fills_in_the_tenant_and_rejects_other_tenants(
        cli: Cli, tenant_file: Path) -> None:
    out = cli("ingest", str(tenant_file), "--tenant", "acme").stdout
    assert out.strip() == summary(3, 0, 0, 1)
    (acme,) = cli.kpis("all", tenant="acme")
    assert (acme["won_deals"], acme["open_deals"]) == (1, 1)
    assert acme["won_revenue"] == Decimal(TENANT_LINES[0]["amount"])
    assert acme["pipeline_value"] == Decimal(TENANT_LINES[1]["amount"])
    assert cli.kpis("all") == []  # nothing went to the default tenant
    assert cli.kpis("all", tenant="globex") == []  # nor to the tenant that was refused
    (letter,) = cli.json("deadletter", "list", "--tenant", "acme", "--format", "json")
    assert letter["line"] == 3
    assert "globex" in letter["reason"] and "acme" in letter["reason"]
    assert cli.json("deadletter", "list", "--format", "json") == []


def test_without_tenant_option_events_keep_their_own_tenant(cli: Cli, tenant_file: Path) -> None:
    assert cli("ingest", str(tenant_file)).stdout.strip() == summary(4, 0, 0, 0)
    # the renewal counts too (the kpis plugin's renewed_customers): a customer event has no
    # owner, so it is under rep key null
    assert [r["key"] for r in cli.kpis("rep")] == ["Ann", None]
    assert [r["key"] for r in cli.kpis("rep", tenant="acme")] == ["Bob"]
    assert [r["key"] for r in cli.kpis("rep", tenant="globex")] == ["Cy"]


def test_ingest_of_a_missing_file_fails(cli: Cli, tmp_path: Path) -> None:
    result = cli("ingest", str(tmp_path / "nope.jsonl"), ok=False)
    assert result.exit_code != 0
    assert "no such file" in result.output


def test_schema_describes_every_event_type(make_cli: Any, sqlite_url: str) -> None:
    out = make_cli(sqlite_url)("schema").stdout
    schema = load_json(out)
    variants = [schema["$defs"][ref["$ref"].rsplit("/", 1)[1]] for ref in schema["oneOf"]]
    types = {v["properties"]["type"]["const"] for v in variants}
    assert types == {"deal", "lead", "activity", "customer", "cost", "rep"}
    assert schema["discriminator"]["propertyName"] == "type"
    assert set(schema["discriminator"]["mapping"]) == types
    by_type = {v["properties"]["type"]["const"]: v for v in variants}
    assert {"event_id", "occurred_at", "deal_id", "version", "owner", "stage",
            "status"} <= set(by_type["deal"]["required"])
    assert by_type["deal"]["properties"]["status"]["enum"] == ["open", "won", "lost", "deleted"]
    # Every valid line of the ingest tests only uses properties the schema declares.
    for ev in [*VALID.values(), *TENANT_LINES]:
        assert set(ev) <= set(by_type[ev["type"]]["properties"]), ev


def test_counters_and_engine_api_agree_with_the_summary(cli: Cli, engine: Engine,
                                                       events_file: Path) -> None:
    cli("ingest", str(events_file))
    cli("ingest", str(events_file))
    counters = engine.store.counters("default")
    assert counters['attain_events_total{outcome="accepted"}'] == N_DEALS_AND_FACTS
    assert counters['attain_events_total{outcome="stale"}'] == 1
    assert counters['attain_events_total{outcome="duplicate"}'] == len(VALID)
    assert counters['attain_events_total{outcome="rejected"}'] == 2 * len(INVALID)
    stats = {r["name"]: r["value"] for r in cli.json("stats", "--format", "json")}
    assert {k: v for k, v in stats.items() if k.startswith("attain_events_total")} == {
        k: v for k, v in counters.items() if k.startswith("attain_events_total")}
    latest = {d.deal_id: d for d in engine.deals("default")}
    assert {k: v.version for k, v in latest.items()} == {"A": 2, "B": 3, "C": 2}
    assert latest["A"].amount == Decimal(VALID[2]["amount"])


def test_an_event_id_reused_by_a_new_deal_is_a_conflict_and_the_batch_still_counts(
        engine: Engine) -> None:
    """The event log is only searched for the ids of events that are not newer than their deal
    (plus facts); a newer deal event that reuses a stored id with other content must still be
    caught: the first event is kept, the reuse is dead-lettered as a conflict, and the rest of
    its batch counts."""
    from attain.core.engine import CONFLICT_REASON, Record

    first = engine.process([Record(json.dumps(deal("x-1", "X", 1, "Ann", "won", "100",
                                                   closed_on="2017-02-01")))])
    assert first.accepted == 1
    batch = [deal("x-1", "Y", 1, "Bob", "won", "999", closed_on="2017-02-01"),  # reused id
             deal("z-1", "Z", 1, "Bob", "won", "50", closed_on="2017-02-01"),
             deal("x-2", "X", 2, "Ann", "won", "120", closed_on="2017-02-01")]
    second = engine.process([Record(json.dumps(ev), "batch", i, numbered=True)
                             for i, ev in enumerate(batch, start=1)])
    assert (second.accepted, second.duplicates, second.stale, second.conflicts,
            second.rejected) == (2, 0, 0, 1, 0)
    rows = {r["key"]: r for r in engine.kpis("default", "rep")}
    assert rows["Ann"]["won_revenue"] == Decimal("120") and rows["Bob"]["won_revenue"] == Decimal("50")
    assert {d.deal_id: d.version for d in engine.deals("default")} == {"X": 2, "Z": 1}
    counters = engine.store.counters("default")
    assert counters['attain_events_total{outcome="accepted"}'] == 3
    assert counters['attain_events_total{outcome="conflict"}'] == 1
    assert 'attain_events_total{outcome="duplicate"}' not in counters
    [dl] = engine.store.deadletters("default")
    assert (dl.source, dl.line, dl.reason) == ("batch:1", 1, CONFLICT_REASON)
    assert json.loads(dl.payload) == batch[0]


def test_stdin_pipe_is_committed_as_it_flows(sqlite_url: str) -> None:
    """`attain ingest -` on a live pipe: lines count while the pipe is still open (a batch is
    committed when the input pauses), not only at the end of input."""
    import subprocess
    import sys
    import time

    from attain.core.store import Store

    store = Store(sqlite_url)  # creates the schema before the writer starts

    def accepted() -> int:
        return store.counters("default").get('attain_events_total{outcome="accepted"}', 0)

    def wait_for(n: int) -> None:
        deadline = time.monotonic() + 60
        while accepted() < n:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, f"{accepted()} of {n} events committed"
            time.sleep(0.05)

    proc = subprocess.Popen([sys.executable, "-m", "attain.core.cli", "--db", sqlite_url, "ingest",
                             "-", "--quiet"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdin is not None
    try:
        for i in (1, 2):
            proc.stdin.write((json.dumps(deal(f"p-{i}", f"P{i}", 1, "Ann", "open", "10")) + "\n").encode())
        proc.stdin.flush()
        wait_for(2)  # the pipe is still open
        proc.stdin.write((json.dumps(deal("p-3", "P3", 1, "Bob", "won", "5", closed_on="2017-03-01"))
                          + "\n").encode())
        proc.stdin.flush()
        wait_for(3)
        out, err = proc.communicate(timeout=60)  # closes stdin: end of input
    finally:
        if proc.poll() is None:
            proc.kill()
        store.dispose()
    assert proc.returncode == 0, err
    assert out.decode().strip().splitlines()[-1] == "accepted 3, duplicates 0, stale 0, conflicts 0, rejected 0"
