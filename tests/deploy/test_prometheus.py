"""deploy/prometheus: the config and the alert rules pass promtool, the rules' unit tests
(alerts_test.yml) pass and cover every alert firing and not firing, and every series an alert or
its tests use is in the metrics contract (docs/metrics.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .deploykit import (
    ALERTS_TEST_YML,
    ALERTS_YML,
    PROMETHEUS_YML,
    Selector,
    contract,
    literal_alternatives,
    load_yaml,
    run_promtool,
    selectors,
)

pytestmark = pytest.mark.deploy

# The alerts issue 18 asks for: worker down, consumer lag growing, dead-letter rate, plugin
# errors, goal at risk.
REQUIRED_ALERTS = {"AttainWorkerDown", "AttainConsumerLagGrowing", "AttainDeadLetterRateHigh",
                   "AttainPluginErrors", "AttainGoalAtRisk"}
SEVERITIES = {"warning", "critical"}
AUDIENCES = {"operations", "sales"}
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"job", "instance"}


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS_YML)["groups"] for rule in group["rules"] if "alert" in rule]


def scrape_jobs() -> set[str]:
    return {job["job_name"] for job in load_yaml(PROMETHEUS_YML)["scrape_configs"]}


def contract_problems(sel: Selector, where: str) -> list[str]:
    """What is wrong with one selector against the contract: an unknown metric, a label the
    metric does not have, a value outside a closed set; ``up`` may only name scrape jobs."""
    c = contract()
    problems = []
    if sel.name == "up":
        for label, op, value in sel.matchers:
            if label not in TARGET_LABELS:
                problems.append(f"{where}: up has no label {label!r}")
            if label != "job":
                continue
            alternatives = literal_alternatives(op, value)
            if alternatives is None or not set(alternatives) <= scrape_jobs():
                problems.append(f"{where}: up{{job{op}{value!r}}} is not one of the jobs of prometheus.yml "
                                f"({', '.join(sorted(scrape_jobs()))})")
        return problems
    spec = c.series_names().get(sel.name)
    if spec is None:
        return [f"{where}: {sel.name!r} is not a metric of docs/metrics.md"]
    allowed = set(spec.labels) | TARGET_LABELS | ({"le"} if sel.name.endswith("_bucket") else set())
    for label, op, value in sel.matchers:
        if label not in allowed:
            problems.append(f"{where}: {sel.name} has no label {label!r} (docs/metrics.md: {', '.join(spec.labels)})")
            continue
        closed = c.closed_values.get((spec.name, label))
        alternatives = literal_alternatives(op, value)
        if closed is not None and alternatives is not None and not set(alternatives) <= closed:
            problems.append(f"{where}: {sel.name}{{{label}{op}{value!r}}}: not among {sorted(closed)}")
    return problems


def test_promtool_check_config() -> None:
    # also checks the rule files the config names (alerts.yml)
    proc = run_promtool("check", "config", str(PROMETHEUS_YML))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 rule files found" in proc.stdout + proc.stderr


def test_promtool_check_rules() -> None:
    proc = run_promtool("check", "rules", str(ALERTS_YML))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in proc.stdout


def test_promtool_test_rules() -> None:
    proc = run_promtool("test", "rules", str(ALERTS_TEST_YML))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_promtool_test_rules_fails_on_a_wrong_expectation(tmp_path: Path) -> None:
    """The unit tests bite: the same tests with one expected annotation changed fail."""
    text = ALERTS_TEST_YML.read_text(encoding="utf-8")
    assert text.count('summary: "Attain worker worker-2:6066 is down"') >= 1
    (tmp_path / "alerts.yml").write_text(ALERTS_YML.read_text(encoding="utf-8"), encoding="utf-8")
    wrong = tmp_path / "alerts_test.yml"
    wrong.write_text(text.replace('"Attain worker worker-2:6066 is down"', '"Attain worker worker-1:6066 is down"'),
                     encoding="utf-8")
    proc = run_promtool("test", "rules", str(wrong))
    assert proc.returncode != 0
    assert "AttainWorkerDown" in proc.stdout + proc.stderr


def test_the_required_alerts_exist_with_labels_and_annotations() -> None:
    rules = alert_rules()
    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names)), names
    assert REQUIRED_ALERTS <= set(names), REQUIRED_ALERTS - set(names)
    for rule in rules:
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["labels"]["audience"] in AUDIENCES, rule["alert"]
        annotations = rule["annotations"]
        assert {"summary", "description"} <= set(annotations), rule["alert"]
        # the summary names what the alert is about: an instance, a tenant, a goal, a plugin …
        assert "$labels." in annotations["summary"], rule["alert"]


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    cases: dict[str, dict[str, int]] = {}
    for test in load_yaml(ALERTS_TEST_YML)["tests"]:
        for case in test.get("alert_rule_test", []):
            kind = "firing" if case.get("exp_alerts") else "silent"
            counts = cases.setdefault(case["alertname"], {"firing": 0, "silent": 0})
            counts[kind] += 1
            for alert in case.get("exp_alerts") or []:
                assert alert["exp_labels"]["alertname"] == case["alertname"]
                assert alert.get("exp_annotations"), f"{case['alertname']}: annotations not checked"
    for name in (r["alert"] for r in alert_rules()):
        assert cases.get(name, {}).get("firing"), f"{name}: no test where it fires"
        assert cases.get(name, {}).get("silent"), f"{name}: no test where it does not fire"
    unknown = set(cases) - {r["alert"] for r in alert_rules()}
    assert not unknown, f"alerts_test.yml tests alerts that do not exist: {unknown}"


def test_alert_expressions_use_only_the_contract() -> None:
    problems = []
    for rule in alert_rules():
        sels = selectors(rule["expr"])
        assert sels, rule["alert"]
        for sel in sels:
            problems += contract_problems(sel, rule["alert"])
    assert not problems, "\n".join(problems)


def test_alert_test_series_use_only_the_contract() -> None:
    """The unit tests feed series shaped like the real exposition: contract metrics, their labels
    (all of them, as prometheus-client exports every label) and values."""
    c = contract().series_names()
    problems = []
    for test in load_yaml(ALERTS_TEST_YML)["tests"]:
        for series in test["input_series"]:
            (sel,) = selectors(series["series"])
            where = f"{test['name']}: {series['series']}"
            problems += contract_problems(sel, where)
            spec = c.get(sel.name)
            if spec is not None:
                missing = set(spec.labels) - {label for label, _, _ in sel.matchers}
                if missing:
                    problems.append(f"{where}: lacks the labels {sorted(missing)}")
    assert not problems, "\n".join(problems)


def test_the_config_scrapes_workers_and_api_and_loads_the_alerts() -> None:
    config = load_yaml(PROMETHEUS_YML)
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {"attain-worker", "attain-api"} <= set(jobs)
    for name in ("attain-worker", "attain-api"):
        assert jobs[name].get("metrics_path", "/metrics") == "/metrics"
    workers = [t for sc in jobs["attain-worker"]["static_configs"] for t in sc["targets"]]
    assert len(workers) == 2, workers
