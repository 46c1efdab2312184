"""Fuzz: generated lines (valid events, valid events with hostile field values, random bytes)
through ``attain ingest`` and the stream codec.

Properties, for every generated input:

* the command never crashes (exit 0, its one summary line);
* every non-blank input line is accounted for exactly once:
  accepted + duplicates + stale + conflicts + rejected = lines;
* a line built to be valid is never rejected (only a reused id with other content may turn it
  away, as a conflict);
* the KPIs equal those of the lines that were not dead-lettered, ingested alone.

``ATTAIN_FUZZ_EXAMPLES`` sets the number of examples (default 40, a few seconds);
``scripts/fuzz`` runs thousands.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

from attain.core.engine import CONFLICT_REASON, Engine
from attain.core.plugins import get_plugins
from attain.core.store import Store
from attain.streams import codec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from testkit import Cli

EXAMPLES = int(os.environ.get("ATTAIN_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 40,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
GROUPINGS = ("all", "rep", "product", "account", "quarter")

owners = st.sampled_from(["Ann", "Bob", "Cy"])
days = st.dates(min_value=__import__("datetime").date(2016, 1, 1),
                max_value=__import__("datetime").date(2018, 12, 31))


@st.composite
def valid_deal(draw: st.DrawFn) -> dict[str, Any]:
    status = draw(st.sampled_from(["open", "won", "lost"]))
    engaged = draw(days)
    ev: dict[str, Any] = {
        "type": "deal", "event_id": f"e{draw(st.integers(0, 30))}",
        "deal_id": f"D{draw(st.integers(0, 8))}", "version": draw(st.integers(0, 5)),
        "occurred_at": f"{engaged.isoformat()}T10:00:00Z", "owner": draw(owners),
        "stage": status.title(), "status": status, "engaged_on": engaged.isoformat(),
        "product": draw(st.sampled_from([None, "GTX", "MG"])),
        "account": draw(st.sampled_from([None, "Acme", "Globex"])),
    }
    if status != "open" or draw(st.booleans()):
        cents = draw(st.integers(0, 10**9))
        amount = f"{cents // 100}.{cents % 100:02d}"
        ev["amount"] = draw(st.sampled_from([amount, float(amount) if cents < 10**6 else amount]))
    if status != "open":
        ev["closed_on"] = (engaged + __import__("datetime").timedelta(days=draw(st.integers(0, 400)))
                           ).isoformat()
    return ev


@st.composite
def valid_fact(draw: st.DrawFn) -> dict[str, Any]:
    day = draw(days).isoformat()
    if draw(st.booleans()):
        return {"type": "activity", "event_id": f"a{draw(st.integers(0, 30))}",
                "activity_id": f"A{draw(st.integers(0, 30))}", "owner": draw(owners),
                "kind": draw(st.sampled_from(["call", "email", "meeting", "demo"])),
                "occurred_at": f"{day}T09:00:00+02:00"}
    ev = {"type": "lead", "event_id": f"l{draw(st.integers(0, 30))}",
          "lead_id": f"L{draw(st.integers(0, 9))}",
          "kind": draw(st.sampled_from(["created", "mql", "sal", "sql", "converted"])),
          "occurred_at": f"{day}T08:00:00Z"}
    if draw(st.booleans()):
        ev["first_response_at"] = f"{day}T{draw(st.integers(8, 23)):02d}:30:00Z"
    return ev


hostile_values = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**63, 2**63 - 1, -1, 10**40, 1e308, -0.0, True, None, [], {}, [1, [2]],
                     "NaN", "Infinity", "1e400", "12O4", "1,234.00", "", " ", "\u0000",
                     "\ud800", "x" * 5000, "2017-13-45", "0001-01-01T00:00:00+05:00",
                     "9999-12-31T23:59:59-12:00", {"a": {"b": {"c": {}}}}]),
    st.text(max_size=300),
    st.floats(allow_nan=True, allow_infinity=True),
)


@st.composite
def hostile_event(draw: st.DrawFn) -> dict[str, Any]:
    ev = draw(st.one_of(valid_deal(), valid_fact()))
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from([*ev, "type", "tenant", "extra_field"]))
        ev[key] = draw(hostile_values)
    return ev


def _dumps(ev: dict[str, Any]) -> bytes:
    # allow_nan: NaN/Infinity become bare tokens (invalid JSON); lone surrogates stay escaped
    return json.dumps(ev, allow_nan=True).encode()


line_kinds = st.one_of(
    st.tuples(st.just("valid"), st.one_of(valid_deal(), valid_fact()).map(_dumps)),
    st.tuples(st.just("hostile"), hostile_event().map(_dumps)),
    st.tuples(st.just("bytes"), st.binary(max_size=200).map(lambda b: b.replace(b"\n", b" "))),
    st.tuples(st.just("truncated"), valid_deal().map(_dumps).flatmap(
        lambda b: st.integers(1, max(1, len(b) - 1)).map(lambda n: b[:n]))),
)


def _numbered(data: bytes) -> dict[int, bytes]:
    """What `attain ingest` reads: line number → line, surrounding space stripped, blank lines
    skipped (their numbers too)."""
    return {i: ln.strip() for i, ln in enumerate(data.split(b"\n"), start=1) if ln.strip()}


SUMMARY = re.compile(r"accepted (\d+), duplicates (\d+), stale (\d+), conflicts (\d+), rejected (\d+)")


def _ingest(tmp: Path, data: bytes) -> tuple[Cli, list[int]]:
    cli = Cli(f"sqlite:///{tmp / f'{uuid.uuid4().hex}.db'}")
    res = cli("ingest", "-", "--batch-size", "7", input=data)
    m = SUMMARY.fullmatch(res.stdout.strip())
    assert m, res.stdout
    return cli, [int(g) for g in m.groups()]


def _read(cli: Cli) -> tuple[dict[str, Any], list[Any]]:
    """Every grouping's KPIs and the dead letters, read in-process (the ingest ran the CLI)."""
    store = Store(cli.db_url)
    try:
        engine = Engine(store, get_plugins())
        return ({by: engine.kpis("default", by) for by in GROUPINGS},
                store.deadletters("default"))
    finally:
        store.dispose()


@FUZZ
@given(st.lists(line_kinds, min_size=1, max_size=40))
def test_ingest_never_crashes_and_loses_no_valid_line(tmp_path: Path,
                                                      lines: list[tuple[str, bytes]]) -> None:
    data = b"\n".join(raw for _, raw in lines) + b"\n"
    by_line = _numbered(data)
    cli, counts = _ingest(tmp_path, data)
    assert sum(counts) == len(by_line)

    kpis, letters = _read(cli)
    assert len(letters) == counts[3] + counts[4]  # conflicts and rejected are dead letters
    rejected = {d.line for d in letters if d.reason != CONFLICT_REASON}
    valid_lines = {raw.strip() for kind, raw in lines if kind == "valid"}
    assert not {n for n in rejected if by_line[n] in valid_lines}, "a valid line was rejected"

    # the KPIs are those of the lines that were not dead-lettered, ingested alone
    dead = {d.line for d in letters}
    kept = b"".join(by_line[n] + b"\n" for n in sorted(by_line) if n not in dead)
    alone, alone_counts = _ingest(tmp_path, kept)
    assert alone_counts[3:] == [0, 0] and sum(alone_counts) == len(by_line) - len(dead)
    assert _read(alone)[0] == kpis


@FUZZ
@given(st.one_of(st.binary(max_size=300), hostile_event().map(_dumps), valid_deal().map(_dumps)))
def test_the_stream_codec_takes_any_line(raw: bytes) -> None:
    """What the worker does with a message before the engine sees it: the key of a published
    line, the tenant of a key, a dead-letter value: never an exception, exact round trips."""
    key = codec.key_of_line(raw)
    assert key is None or codec.SEP in key
    tenant = codec.tenant_of_key(None if key is None else key.encode("utf-8", "surrogatepass"))
    assert isinstance(tenant, str) and tenant
    assert codec.tenant_of_key(raw) and codec.tenant_of_key(raw.decode("utf-8", "replace"))
    text = raw.decode("utf-8", "replace")
    value = json.loads(codec.deadletter_value(tenant, "why", text, "kafka:t/0@1"))
    assert (value["tenant"], value["reason"], value["payload"], value["source"]) == (
        tenant, "why", text, "kafka:t/0@1")
