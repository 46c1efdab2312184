"""End to end: a real Prometheus (Debian's, scripts/prometheus) scrapes a real API (uvicorn on
loopback, the two-tenant data set with goals and commissions), and every Grafana panel query
over the metrics the API exports returns data. (The worker's panels, consumer lag and event to
KPI latency, need a stream worker: tests/streams/test_streams_worker_metrics.py.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from api.apikit import Api, LiveServer, make_api, ndjson
from attain.plugins.goals import GoalService
from attain.testing.builders import deal
from testkit import Cli

from .deploykit import DASHBOARD_JSON, load_json, selectors
from .promharness import panel_queries, prometheus_server, queries_without_data

pytestmark = pytest.mark.deploy

#: what the API exports (docs/metrics.md: "API" and "worker or API"), and Prometheus' own up{job="attain-api"}
API_METRICS = {"attain_events_total", "attain_plugin_errors_total", "attain_batch_duration_seconds_bucket",
               "attain_batch_duration_seconds_sum", "attain_batch_duration_seconds_count", "attain_kpi",
               "attain_funnel_deals", "attain_goal_attainment_ratio", "attain_goal_status", "attain_goal_target",
               "attain_commission_accrued", "attain_commission_accrued_company", "attain_http_requests_total",
               "attain_http_request_duration_seconds_bucket", "attain_http_request_duration_seconds_sum",
               "attain_http_request_duration_seconds_count"}
PLAN = ("plan: p\neffective_from: 2017-01-01\neffective_to: 2017-12-31\nperiod: quarter\npayees: all\n"
        "rules:\n  - id: base\n    type: flat_rate\n    rate: 5%\n")


def api_panel_queries() -> list:
    out = []
    for q in panel_queries(load_json(DASHBOARD_JSON)):
        names = {s.name for s in selectors(q.promql())}
        if names <= API_METRICS or names == {"up"} and 'attain-api' in q.expr:
            out.append(q)
    return out


def test_every_api_panel_query_returns_data(tmp_path: Path) -> None:
    queries = api_panel_queries()
    assert len(queries) >= 8, [str(q) for q in queries]
    for api in make_api(f"sqlite:///{tmp_path / 'api.db'}"):
        prepare(api, tmp_path)
        with LiveServer(api.client.app) as live:
            port = os.environ.get("ATTAIN_PROMETHEUS_PORT")
            with prometheus_server({"attain-api": [f"127.0.0.1:{live.port}"]}, port) as prom:
                assert prom.wait_until_up("attain-api", 1, timeout=60)
                for i in range(5):  # traffic while Prometheus scrapes: rates need two samples
                    body = ndjson([deal(f"P{i}", owner="Ann", status="won", amount="10", event_id=f"p{i}"),
                                   {"type": "deal", "event_id": f"bad{i}"}])
                    assert api.post("/api/v1/events", "service", content=body).status_code == 200
                    api.get("/api/v1/kpis", "admin")
                missing = queries_without_data(prom, queries, timeout=90, rate_interval="30s")
                assert [str(q) for q in missing] == []


def prepare(api: Api, tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    Cli(api.url)("commission", "run", "--period", "2017-Q2", "--plan", str(plan), "--tenant", "acme")
    GoalService(api.engine, "acme").add({"id": "ann-q2", "metric": "won_revenue", "owner": "rep:Ann",
                                         "period": "2017-Q2", "target": "2000"})
