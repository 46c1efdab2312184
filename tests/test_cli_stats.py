"""`attain stats` in every format: table, json, csv and prometheus (valid text exposition format,
parsed with prometheus_client's own parser), with counts worked out by hand."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from attain.core import hookimpl
from attain.core.plugins import get_plugins
from attain.core.store import Store
from prometheus_client.parser import text_string_to_metric_families
from testkit import Cli, table_rows


def deal(eid: str, did: str, version: int, status: str, amount: str | None) -> str:
    return json.dumps({"type": "deal", "event_id": eid, "deal_id": did, "version": version,
                       "occurred_at": "2017-03-01T10:00:00Z", "owner": "Ann", "stage": status,
                       "status": status, "amount": amount,
                       "closed_on": None if status == "open" else "2017-03-01"})


# accepted: a1, a2, b2 (4 with the call); duplicate: a1 again; stale: b1 (below b2); rejected: 2.
LINES = [deal("a1", "A", 1, "open", None), deal("a2", "A", 2, "won", "10"),
         deal("b2", "B", 2, "lost", "0"), deal("b1", "B", 1, "open", None),
         deal("a1", "A", 1, "open", None), '{"broken": ', "[1]",
         json.dumps({"type": "activity", "event_id": "c1", "activity_id": "c1", "kind": "call",
                     "owner": "Ann", "occurred_at": "2017-03-01T11:00:00Z"})]
EVENTS = {'attain_events_total{outcome="accepted"}': 4, 'attain_events_total{outcome="duplicate"}': 1,
          'attain_events_total{outcome="stale"}': 1, 'attain_events_total{outcome="rejected"}': 2}


class Grumpy:
    """Fails in attain_event_received for every valid event of deal A (a1 twice, a2: 3 calls)."""

    @hookimpl
    def attain_event_received(self, event: Any, tenant: str) -> None:
        if getattr(event, "deal_id", None) == "A":
            raise RuntimeError("grumpy")


ERRORS = {'attain_plugin_errors_total{plugin="grumpy",hook="attain_event_received"}': 3}


@pytest.fixture
def grumpy() -> Iterator[None]:
    plugins = get_plugins()
    plugins.register(Grumpy(), "grumpy")
    try:
        yield
    finally:
        plugins.unregister("grumpy")


def ingest(cli: Cli, tmp_path: Path, tenant: str) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(LINES) + "\n")
    out = cli("ingest", str(path), "--tenant", tenant, "--quiet").stdout
    assert out.strip() == "accepted 4, duplicates 1, stale 1, conflicts 0, rejected 2"


def test_stats_in_every_format(cli: Cli, tmp_path: Path, grumpy: None, wide: int) -> None:
    ingest(cli, tmp_path, "acme")
    want = {**EVENTS, **ERRORS}
    store = Store(cli.db_url)
    try:
        assert store.counters("acme") == want
    finally:
        store.dispose()
    by_name = sorted(want.items())

    assert [(r["name"], r["value"]) for r in cli.json("stats", "--tenant", "acme", "--format", "json")] == by_name

    out = cli("stats", "--tenant", "acme", "--format", "csv").stdout
    rows = list(csv.reader(io.StringIO(out, newline="")))
    assert rows == [["name", "value"], *[[k, str(v)] for k, v in by_name]]

    out = cli("stats", "--tenant", "acme").stdout  # the table
    assert out.splitlines()[0].strip() == "Counters (tenant acme)"
    header, rows = table_rows(out)
    assert header == ["name", "value"] and rows == [[k, str(v)] for k, v in by_name]

    assert cli.json("stats", "--tenant", "nobody", "--format", "json") == []


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*",?)+)\} (\d+)$')


def exposition(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The samples of a Prometheus text exposition, checked line by line: every sample is
    ``name{label="value",…} integer`` and comes after the ``# TYPE <name> counter`` line of its
    family (given once); then parsed by prometheus_client."""
    typed: list[str] = []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line[len("# TYPE "):].split(" ")
            assert kind == "counter" and name not in typed, line
            typed.append(name)
        else:
            m = SAMPLE.match(line)
            assert m, f"not a valid sample line: {line!r}"
            assert typed and m.group(1) == typed[-1], f"{line!r} is not under its # TYPE line"
    samples = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "counter"
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def test_stats_prometheus(cli: Cli, tmp_path: Path, grumpy: None) -> None:
    tenant = 'we say "hi" \\ bye\nnow'  # quotes, a backslash and a line feed to escape
    ingest(cli, tmp_path, tenant)
    text = cli("stats", "--tenant", tenant, "--format", "prometheus").stdout
    t = {("tenant", tenant)}
    assert exposition(text) == {
        ("attain_events_total", frozenset(t | {("outcome", "accepted")})): 4,
        ("attain_events_total", frozenset(t | {("outcome", "duplicate")})): 1,
        ("attain_events_total", frozenset(t | {("outcome", "stale")})): 1,
        ("attain_events_total", frozenset(t | {("outcome", "rejected")})): 2,
        ("attain_plugin_errors_total",
         frozenset(t | {("plugin", "grumpy"), ("hook", "attain_event_received")})): 3,
    }
    assert 'tenant="we say \\"hi\\" \\\\ bye\\nnow"' in text
    assert cli("stats", "--tenant", "nobody", "--format", "prometheus").stdout == "\n"


def test_stats_refuses_an_unknown_format(cli: Cli) -> None:
    result = cli("stats", "--format", "xml", ok=False)
    assert result.exit_code == 2
    assert "choose table, json, csv or prometheus" in " ".join(result.output.split())
