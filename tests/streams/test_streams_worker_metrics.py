"""A real worker's ``/metrics`` (docs/metrics.md): ``attain_plugin_errors_total{tenant,plugin,hook}``
and ``attain_event_to_kpi_seconds``, checked with ``promtool check metrics``; then a real
Prometheus scraping the worker, and every Grafana panel query over the worker's metrics returns
data (the API's panels: tests/deploy/test_dashboard_api.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from attain.core import get_plugins
from attain.testing.builders import deal
from deploy.deploykit import DASHBOARD_JSON, load_json, selectors
from deploy.promharness import panel_queries, prometheus_server, queries_without_data
from testkit import missing_server

from .streamkit import (
    StreamEnv,
    counters,
    free_port,
    install_flaky_plugin,
    outcomes,
    scrape,
    write_lines,
)

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.timeout(300),
    pytest.mark.filterwarnings("ignore:read_text is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:open_text is deprecated:DeprecationWarning"),
]

#: what the worker exports of the contract (docs/metrics.md: "worker"), and Prometheus' own up
WORKER_METRICS = {"attain_events_total", "attain_plugin_errors_total", "attain_batch_duration_seconds_bucket",
                  "attain_batch_duration_seconds_sum", "attain_batch_duration_seconds_count",
                  "attain_event_to_kpi_seconds_bucket", "attain_event_to_kpi_seconds_sum",
                  "attain_event_to_kpi_seconds_count", "attain_consumer_lag"}
COUNT = "attain_event_to_kpi_seconds_count"


def won_deals(first: int, n: int) -> list[bytes]:
    """``n`` new won deals, each a KPI change of its own (won revenue, won deals); the flaky
    plugin fails ``attain_event_received`` on ids ending in 3 and ``contribute`` on the
    version-3 snapshots of ids ending in 7 (the odd ids are version 3)."""
    return [json.dumps(deal(f"D{i}", 3 if i % 2 else 1, status="won", amount=str(100 + i),
                            event_id=f"e{i}")).encode() for i in range(first, first + n)]


def promtool_check(body: str) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        missing_server("promtool is not installed: run `scripts/prometheus install`")
    proc = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_worker_exports_plugin_errors_and_event_to_kpi_latency(stream: StreamEnv) -> None:
    plugin_env = install_flaky_plugin(stream.tmp / "plugin")
    url = stream.db()
    port = free_port()
    worker = stream.start_worker(url, plugin_env, args=["--web-port", str(port)])
    stream.wait("the worker's /metrics", lambda: _scrapes(port))
    lines = won_deals(0, 40)
    path = write_lines(stream.tmp / "won.jsonl", lines)
    before = time.time()
    stream.attain(["publish", str(path)], plugin_env)
    stream.wait("40 events processed", lambda: outcomes(url, "default") >= 40)
    # every accepted event is observed once, when the KPI update reflecting it was delivered
    stream.wait("40 event-to-KPI observations", lambda: scrape(port)[1].get(COUNT) == 40, timeout=60)
    body, m = scrape(port)
    after = time.time()
    # each observation is "delivered − produced": within the time the test took (seconds, not ms)
    assert 0 < m["attain_event_to_kpi_seconds_sum"] <= 40 * (after - before)
    assert m['attain_event_to_kpi_seconds_bucket{le="+Inf"}'] == 40

    ids = range(40)
    received = sum(1 for i in ids if str(i).endswith("3"))                    # D3, D13, D23, D33
    contribute = sum(1 for i in ids if str(i).endswith("7") and i % 2)        # D7, D17, D27, D37
    errors = {k: v for k, v in m.items() if k.startswith("attain_plugin_errors_total{")}
    label = 'attain_plugin_errors_total{{hook="{}",plugin="{}",tenant="default"}}'
    assert errors[label.format("attain_event_received", "flaky")] == received == 4
    assert errors[label.format("contribute", "flaky")] == contribute == 4
    assert sum(errors.values()) == received + contribute
    # every loaded plugin's hooks have their series, at 0 unless they failed
    for p in get_plugins().info():
        for hook in p["hooks"]:
            assert errors[label.format(hook, p["name"])] == 0
    # the store's counters (attain stats) say the same
    c = counters(url, "default")
    assert c['attain_plugin_errors_total{plugin="flaky",hook="contribute"}'] == contribute
    assert c['attain_plugin_errors_total{plugin="flaky",hook="attain_event_received"}'] == received
    promtool_check(body.split("\n", 1)[1])

    # The same events again: duplicates change no KPI, so nothing more is observed.
    stream.attain(["publish", str(path)], plugin_env)
    stream.wait("the duplicates processed", lambda: outcomes(url, "default") >= 80)
    m = scrape(port)[1]
    assert m['attain_events_total{outcome="duplicate",tenant="default"}'] == 40
    assert m[COUNT] == 40
    assert worker.stop() == 0


def _scrapes(port: int) -> bool:
    try:
        scrape(port)
    except OSError:
        return False
    return True


def worker_panel_queries() -> list:
    out = []
    for q in panel_queries(load_json(DASHBOARD_JSON)):
        names = {s.name for s in selectors(q.promql())}
        if names <= WORKER_METRICS or names == {"up"} and "attain-worker" in q.expr:
            out.append(q)
    return out


@pytest.mark.deploy
def test_every_worker_panel_query_returns_data(stream: StreamEnv, tmp_path: Path) -> None:
    """A real Prometheus scrapes a real worker while events arrive: every panel query over the
    worker's metrics (events, plugin errors, batch and event-to-KPI latency, consumer lag, up)
    returns data."""
    queries = worker_panel_queries()
    assert {q.panel for q in queries} >= {"Consumer lag", "Plugin errors"}, [str(q) for q in queries]
    assert any("attain_event_to_kpi_seconds" in q.expr for q in queries)
    plugin_env = install_flaky_plugin(tmp_path / "plugin")
    url = stream.db()
    port = free_port()
    worker = stream.start_worker(url, plugin_env, args=["--web-port", str(port)])
    stream.wait("the worker's /metrics", lambda: _scrapes(port))
    with prometheus_server({"attain-worker": [f"127.0.0.1:{port}"]},
                           os.environ.get("ATTAIN_PROMETHEUS_PORT")) as prom:
        assert prom.wait_until_up("attain-worker", 1, timeout=60)
        for i in range(5):  # traffic while Prometheus scrapes: rates need two samples
            path = write_lines(tmp_path / f"part{i}.jsonl", won_deals(20 * i, 20))
            stream.attain(["publish", str(path)], plugin_env)
            stream.wait(f"part {i} processed", lambda n=20 * (i + 1): outcomes(url, "default") >= n)
            time.sleep(1.0)  # (a scrape a second: the next part lands in a later sample)
        missing = queries_without_data(prom, queries, timeout=90, rate_interval="30s")
        assert [str(q) for q in missing] == []
    assert worker.stop() == 0
