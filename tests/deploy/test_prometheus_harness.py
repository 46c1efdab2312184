"""The end-to-end harness itself (promharness.py, scripts/prometheus): a real Prometheus scrapes a
stand-in target and the harness tells which dashboard queries return data.

The stand-in (prometheus-client's own HTTP server with a few contract metrics) exists for this
test only, to test the harness; the dashboard check proper scrapes a real worker and API (issue
18's metrics work) and needs every query to return data."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from .deploykit import DASHBOARD_JSON, load_json, selectors
from .promharness import PanelQuery, panel_queries, prometheus_server, queries_without_data, variable_selectors

pytestmark = pytest.mark.deploy

# What the stand-in exposes: (series name, labels).
EXPOSED = [
    ("attain_kpi", {"tenant": "acme", "metric": "won_revenue", "grouping": "company", "key": ""}),
    ("attain_kpi", {"tenant": "acme", "metric": "won_revenue", "grouping": "region", "key": "West"}),
    ("attain_kpi", {"tenant": "acme", "metric": "won_revenue", "grouping": "rep", "key": "Alice"}),
    ("attain_events_total", {"tenant": "acme", "outcome": "accepted"}),
]
# and Prometheus' own series of the scraped job
SCRAPED = [("up", {"job": "attain-worker"})]


@pytest.fixture(scope="module")
def stand_in() -> Iterator[str]:
    """host:port of an HTTP server exposing a few contract metrics (prometheus-client)."""
    registry = CollectorRegistry()
    kpi = Gauge("attain_kpi", "a KPI", ["tenant", "metric", "grouping", "key"], registry=registry)
    events = Counter("attain_events", "events", ["tenant", "outcome"], registry=registry)
    values = iter([1234.5, 1000, 700])
    for name, labels in EXPOSED:
        if name == "attain_kpi":
            kpi.labels(**labels).set(next(values))
        else:
            events.labels(**labels).inc(10)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return load_json(DASHBOARD_JSON)


def _matches(op: str, pattern: str, value: str) -> bool:
    return {"=": value == pattern, "!=": value != pattern,
            "=~": re.fullmatch(pattern, value) is not None,
            "!~": re.fullmatch(pattern, value) is None}[op]


def served_by_stand_in(q: PanelQuery) -> bool:
    """Every selector of the query matches a series the stand-in exposes (worked out from the
    PromQL here, not by asking Prometheus)."""
    return all(any(name == sel.name and all(_matches(op, v, labels.get(k, "")) for k, op, v in sel.matchers)
                   for name, labels in EXPOSED + SCRAPED)
               for sel in selectors(q.promql()))


def test_the_harness_finds_the_queries_with_and_without_data(stand_in: str, dashboard: dict[str, Any]) -> None:
    queries = panel_queries(dashboard)
    with_data = [q for q in queries if served_by_stand_in(q)]
    without = [q for q in queries if not served_by_stand_in(q)]
    assert with_data and without
    with prometheus_server({"attain-worker": [stand_in]}) as api:
        assert api.wait_until_up("attain-worker", 1, timeout=60), api.targets()
        # rate() over the counter needs two scrapes of the stand-in: the harness waits for them
        assert queries_without_data(api, with_data, timeout=60, rate_interval="10s") == []
        # the others are asked once (timeout 0) and all reported
        assert queries_without_data(api, without, timeout=0) == without

        won = next(q for q in with_data if q.panel == "Won revenue")
        [sample] = api.query(won.promql())
        assert sample["metric"] == {"tenant": "acme"} and sample["value"][1] == "1234.5"
        by_rep = next(q for q in with_data if q.panel == "Won revenue by rep")
        assert [s["metric"]["key"] for s in api.query(by_rep.promql())] == ["Alice"]
        # a template variable's value narrows the query
        region = next(q for q in with_data if q.panel == "Won revenue by region")
        assert len(api.query(region.promql({"region": "West"}))) == 1
        assert api.query(region.promql({"region": "East"})) == []

        vars_ = variable_selectors(dashboard)
        sel, label = vars_["tenant"]
        assert api.label_values(label, sel) == ["acme"]
        sel, label = vars_["region"]
        assert api.label_values(label, sel.replace("$tenant", ".*")) == ["West"]

        # the real alert rules are loaded and evaluate without error
        rules = api.rules()
        assert rules and all(r["health"] in ("ok", "unknown") for r in rules), rules
