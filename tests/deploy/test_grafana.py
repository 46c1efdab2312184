"""deploy/grafana: the dashboard is well-formed Grafana JSON whose every panel queries the
provisioned Prometheus datasource with PromQL that Prometheus' own parser accepts, over metrics,
labels and label values of the contract (docs/metrics.md) only; the provisioning files agree with
the dashboard and with docker-compose.yml."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from attain.core.kpi import CORE_METRICS

from .deploykit import (
    DASHBOARD_JSON,
    DASHBOARD_PROVIDER_YML,
    DATASOURCES_YML,
    GRAFANA_BUILTINS,
    check_rules_file,
    contract,
    dashboard_variables,
    is_row,
    iter_panels,
    label_values_query,
    literal_alternatives,
    load_json,
    load_yaml,
    selectors,
    substitute,
    variable_query,
    variables_used,
)
from .promharness import panel_queries
from .test_prometheus import contract_problems

pytestmark = pytest.mark.deploy

GRID_COLUMNS = 24
TEMPLATE_VARIABLES = {"tenant", "region", "team"}
# What issue 18 asks the dashboard to show, each as a panel title and the metrics its queries use.
REQUIRED_PANELS = {
    "Revenue against goal": {"attain_kpi", "attain_goal_target"},
    "Win rate": {"attain_kpi"},
    "Pipeline value": {"attain_kpi"},
    "Funnel": {"attain_funnel_deals"},
    "Attainment leaderboard": {"attain_goal_attainment_ratio"},
    "Won revenue by rep": {"attain_kpi"},
    "Events by outcome": {"attain_events_total"},
    "Batch duration": {"attain_batch_duration_seconds_bucket"},
    "Event to KPI latency": {"attain_event_to_kpi_seconds_bucket"},
    "Consumer lag": {"attain_consumer_lag"},
    "Plugin errors": {"attain_plugin_errors_total"},
}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return load_json(DASHBOARD_JSON)


def datasource_uid() -> str:
    (ds,) = load_yaml(DATASOURCES_YML)["datasources"]
    return str(ds["uid"])


def test_the_dashboard_is_grafana_json(dashboard: dict[str, Any]) -> None:
    assert isinstance(dashboard["uid"], str) and 0 < len(dashboard["uid"]) <= 40
    assert dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    assert isinstance(dashboard["panels"], list) and dashboard["panels"]
    assert "id" not in dashboard or dashboard["id"] is None  # provisioning assigns the id
    ids = [p["id"] for p in iter_panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in iter_panels(dashboard):
        assert panel["type"] and panel["title"], panel


def test_panels_fit_the_grid_without_overlapping(dashboard: dict[str, Any]) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        x, y, w, h = pos["x"], pos["y"], pos["w"], pos["h"]
        assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= GRID_COLUMNS, panel["title"]
        for cx in range(x, x + w):
            for cy in range(y, y + h):
                assert (cx, cy) not in cells, f"{panel['title']!r} overlaps {cells[(cx, cy)]!r}"
                cells[(cx, cy)] = panel["title"]


def test_every_panel_queries_the_provisioned_datasource(dashboard: dict[str, Any]) -> None:
    uid = datasource_uid()
    for panel in iter_panels(dashboard):
        if is_row(panel):
            assert not panel.get("targets"), f"row {panel['title']!r} has queries"
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, panel["title"]
        targets = panel.get("targets") or []
        assert targets, f"{panel['title']!r} has no query"
        refs = [t["refId"] for t in targets]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in targets:
            assert target.get("expr", "").strip(), f"{panel['title']!r} {target['refId']}: no expr"
            assert target.get("datasource", panel["datasource"]) == panel["datasource"], panel["title"]


def test_the_template_variables(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard_variables(dashboard)}
    assert set(variables) == TEMPLATE_VARIABLES
    for var in variables.values():
        assert var["type"] == "query" and var["datasource"]["uid"] == datasource_uid(), var["name"]
        assert var["includeAll"] and var["allValue"] == ".*", var["name"]  # the panels match with =~
        selector, label = label_values_query(variable_query(var))
        problems = [p for sel in selectors(substitute(selector, {"tenant": ".*"}))
                    for p in contract_problems(sel, f"variable {var['name']}")]
        assert not problems, problems
        (sel,) = selectors(substitute(selector, {"tenant": ".*"}))
        assert label in contract().metrics[sel.name].labels, var["name"]


def test_every_query_uses_defined_variables_only(dashboard: dict[str, Any]) -> None:
    known = TEMPLATE_VARIABLES | set(GRAFANA_BUILTINS)
    for q in panel_queries(dashboard):
        assert variables_used(q.expr) <= known, f"{q}: unknown variables {variables_used(q.expr) - known}"
        # a multi-value variable ("All" = .*) only works in a regex matcher
        for var in TEMPLATE_VARIABLES & variables_used(q.expr):
            assert f'=~"${var}"' in q.expr, f"{q}: ${var} outside a =~ matcher"


def test_every_query_is_valid_promql(dashboard: dict[str, Any], tmp_path: Path) -> None:
    exprs = {f"{q.panel} / {q.ref}": q.promql() for q in panel_queries(dashboard)}
    for var in dashboard_variables(dashboard):
        selector, _ = label_values_query(variable_query(var))
        exprs[f"variable {var['name']}"] = substitute(selector, {"tenant": ".*"})
    proc = check_rules_file(exprs, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in proc.stdout


def test_promtool_rejects_an_invalid_panel_query(tmp_path: Path) -> None:
    """The syntax check above bites."""
    proc = check_rules_file({"bad": 'sum by (tenant) (rate(attain_events_total[5m])'}, tmp_path)
    assert proc.returncode != 0
    assert "bad" in proc.stdout + proc.stderr


def test_every_query_uses_only_the_contract(dashboard: dict[str, Any]) -> None:
    kpis = {m.name for m in CORE_METRICS}
    problems = []
    for q in panel_queries(dashboard):
        sels = selectors(q.promql())
        assert sels, q
        for sel in sels:
            problems += contract_problems(sel, str(q))
            for label, op, value in sel.matchers:
                if sel.name == "attain_kpi" and label == "metric":
                    alternatives = literal_alternatives(op, value)
                    if alternatives is None or not set(alternatives) <= kpis:
                        problems.append(f"{q}: attain_kpi{{metric{op}{value!r}}} is not a core KPI")
    assert not problems, "\n".join(problems)


def test_the_dashboard_shows_what_the_issue_asks_and_every_metric(dashboard: dict[str, Any]) -> None:
    used_by_panel: dict[str, set[str]] = {}
    for q in panel_queries(dashboard):
        used_by_panel.setdefault(q.panel, set()).update(s.name for s in selectors(q.promql()))
    for title, metrics in REQUIRED_PANELS.items():
        assert title in used_by_panel, f"no panel {title!r}"
        assert metrics <= used_by_panel[title], f"{title!r} does not query {metrics - used_by_panel[title]}"
    series = contract().series_names()
    shown = {series[name].name for names in used_by_panel.values() for name in names if name in series}
    assert shown == set(contract().metrics), f"metrics on no panel: {set(contract().metrics) - shown}"


def test_the_provisioning_files() -> None:
    (ds,) = load_yaml(DATASOURCES_YML)["datasources"]
    assert load_yaml(DATASOURCES_YML)["apiVersion"] == 1
    assert ds["type"] == "prometheus" and ds["access"] == "proxy" and ds["uid"] == datasource_uid()
    provider_file = load_yaml(DASHBOARD_PROVIDER_YML)
    assert provider_file["apiVersion"] == 1
    (provider,) = provider_file["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/")
