"""/healthz, /readyz (`attain db upgrade` makes it ready) and /metrics (the contract of
docs/metrics.md, checked by promtool)."""

from __future__ import annotations

import json
import shutil
import subprocess

from attain.core import Engine, Store, get_plugins
from attain.plugins.api.app import create_app
from attain.plugins.api.settings import ApiSettings
from attain.testing.builders import deal
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from testkit import Cli, missing_server

from api.apikit import Api, ndjson


def test_readyz_needs_the_migrations(db_url: str) -> None:
    store = Store(db_url, run_migrations=False)
    try:
        client = TestClient(create_app(Engine(store, get_plugins()), ApiSettings()))
        assert client.get("/healthz").json() == {"status": "ok"}
        r = client.get("/readyz")
        assert r.status_code == 503 and "behind: core" in r.json()["migrations"]
        assert "attain db upgrade" in r.json()["migrations"]
        out = Cli(db_url).json("db", "upgrade", "--format", "json")
        assert [m["name"] for m in out][0] == "core" and {"goals", "incentives", "api"} <= {m["name"] for m in out}
        assert all(m["current"] == m["head"] for m in out)
        r = client.get("/readyz")
        assert r.status_code == 200 and r.json() == {"status": "ready", "database": "ok", "migrations": "current"}
        again = Cli(db_url)("db", "upgrade")                   # idempotent
        assert "schema is current" in again.stdout
    finally:
        store.dispose()


def test_readyz_says_when_the_database_is_unreachable() -> None:
    store = Store("postgresql+psycopg://nobody@127.0.0.1:1/none", run_migrations=False)
    client = TestClient(create_app(Engine(store, get_plugins()), ApiSettings()))
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["database"].startswith("unreachable")
    assert "nobody" not in r.text


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


def test_metrics_follow_the_contract(sqlite_api: Api) -> None:
    api = sqlite_api
    before = api.client.get("/metrics").text
    accepted0 = value(before, "attain_events_total", tenant="acme", outcome="accepted") or 0
    rejected0 = value(before, "attain_events_total", tenant="acme", outcome="rejected") or 0
    body = ndjson([deal("M1", owner="Ann", status="won", amount="10", event_id="m1")]) + b"not json\n"
    assert api.post("/api/v1/events", "service", content=body).status_code == 200
    assert api.get("/api/v1/kpis?by=rep", "admin").status_code == 200
    text = api.client.get("/metrics").text
    assert value(text, "attain_events_total", tenant="acme", outcome="accepted") == accepted0 + 1
    assert value(text, "attain_events_total", tenant="acme", outcome="rejected") == rejected0 + 1
    for outcome in ("duplicate", "stale", "conflict"):   # every outcome's series exists
        assert value(text, "attain_events_total", tenant="acme", outcome=outcome) is not None
    assert value(text, "attain_plugin_errors_total", tenant="acme", plugin="goals",
                 hook="attain_batch_processed") == 0
    # Ann: A1 1000.50 + M1 10 won; the store's figure as a float
    assert value(text, "attain_kpi", tenant="acme", metric="won_revenue", grouping="rep", key="Ann") == 1010.5
    assert value(text, "attain_kpi", tenant="acme", metric="won_revenue", grouping="company", key="") == 5260.5
    assert value(text, "attain_kpi", tenant="acme", metric="won_revenue", grouping="team", key="Meg") == 1260.5
    assert value(text, "attain_kpi", tenant="globex", metric="won_revenue", grouping="region", key="North") == 99999
    assert value(text, "attain_funnel_deals", tenant="acme", stage="Engaging") == 2
    assert (value(text, "attain_http_requests_total", route="/api/v1/kpis", method="GET", status="200") or 0) >= 1
    assert (value(text, "attain_batch_duration_seconds_count", source="api") or 0) >= 1
    names = {fam.name for fam in text_string_to_metric_families(text)}
    assert {"attain_http_request_duration_seconds", "attain_batch_duration_seconds"} <= names
    # bounded labels: never a deal or event id, never a raw path
    ids = {"M1", "m1", "A1", "acme-a1", "C2"}
    assert not [k for k in samples(text) if ids & {v for _, v in k[1]}]
    assert "/api/v1/kpis?by" not in text


def test_goal_and_commission_gauges(sqlite_api: Api, tmp_path) -> None:
    from attain.plugins.goals import GoalService

    api = sqlite_api
    GoalService(api.engine, "acme").add({"id": "ann-q2", "metric": "won_revenue", "owner": "rep:Ann",
                                         "period": "2017-Q2", "target": "2000"})
    plan = tmp_path / "plan.yaml"
    plan.write_text("plan: p\neffective_from: 2017-01-01\neffective_to: 2017-12-31\nperiod: quarter\n"
                    "payees: all\nrules:\n  - id: base\n    type: flat_rate\n    rate: 10%\n")
    Cli(api.url)("commission", "run", "--period", "2017-Q2", "--plan", str(plan), "--tenant", "acme")
    body = ndjson([deal("M2", owner="Cid", status="won", amount="1000", event_id="m2",
                        occurred_at="2017-06-01T10:00:00Z")])
    assert api.post("/api/v1/events", "admin", content=body).status_code == 200  # accrues live
    text = api.client.get("/metrics").text
    assert value(text, "attain_goal_target", tenant="acme", goal="ann-q2", owner="rep:Ann") == 2000
    statuses = {s: value(text, "attain_goal_status", tenant="acme", goal="ann-q2", owner="rep:Ann", status=s)
                for s in ("on_track", "at_risk", "off_track", "achieved")}
    assert sorted(statuses.values()) == [0, 0, 0, 1]
    # the goal's attainment is Ann's Q2 won revenue over the target, evaluated today (after Q2)
    assert value(text, "attain_goal_attainment_ratio", tenant="acme", goal="ann-q2", owner="rep:Ann") == 0.5002
    accruals = {dict(k[1])["rep"]: v for k, v in samples(text).items()
                if k[0] == "attain_commission_accrued" and dict(k[1])["tenant"] == "acme"}
    company = value(text, "attain_commission_accrued_company", tenant="acme")
    # the current period is the newest with accruals: 2017-Q3, where Bob won B1 (250) → 10 % = 25
    assert accruals == {"Bob": 25.0} and company == 25.0
    body = ndjson([deal("M3", owner="Cid", status="won", amount="1000", event_id="m3",
                        occurred_at="2017-10-01T10:00:00Z")])
    assert api.post("/api/v1/events", "admin", content=body).status_code == 200
    text = api.client.get("/metrics").text
    # M3 closes in 2017-Q4, now the newest period: Cid 10 % of 1000
    assert value(text, "attain_commission_accrued", tenant="acme", rep="Cid") == 100.0
    assert value(text, "attain_commission_accrued", tenant="acme", rep="Bob") is None


def test_promtool_accepts_the_exposition(sqlite_api: Api, tmp_path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        missing_server("promtool is not installed: run `scripts/prometheus install`")
    api = sqlite_api
    api.post("/api/v1/events", "admin", content=json.dumps([deal("P1", owner="Bob", event_id="p1")]).encode())
    api.get("/api/v1/funnel", "admin")
    api.client.get("/nowhere")
    text = api.client.get("/metrics").text
    proc = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert value(text, "attain_http_requests_total", route="unmatched", method="GET", status="404") is not None
