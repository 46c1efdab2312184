"""The harness of the end-to-end dashboard check: a real Prometheus (``scripts/prometheus``,
Debian's package) scrapes real Attain processes, and every panel's query must return data.

* :func:`panel_queries` — every target of every panel of a dashboard, with its PromQL as
  Prometheus gets it (Grafana's variables replaced: a template variable by ``.*``, "All";
  ``$__rate_interval`` by a window a few scrapes long).
* :func:`prometheus_server` — ``scripts/prometheus start JOB=HOST:PORT …`` on
  ``$ATTAIN_PROMETHEUS_PORT`` (default: a free port per call, so parallel tests each have
  their own), stopped again at the end unless it was already running.
* :class:`PrometheusApi` — ``/api/v1/query``, label values, targets.
* :func:`queries_without_data` — polls until every query returns at least one sample or the
  deadline passes, and returns the ones that still return none (the check: it must be empty).

Usage, in the test that scrapes a real worker (``attain worker --web-port PORT``)::

    with prometheus_server({"attain-worker": [f"127.0.0.1:{port}"]}) as api:
        assert api.wait_until_up("attain-worker", 1, timeout=60)
        assert queries_without_data(api, panel_queries(load_json(DASHBOARD_JSON)), timeout=120) == []
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .deploykit import (
    GRAFANA_BUILTINS,
    ROOT,
    dashboard_variables,
    is_row,
    iter_panels,
    label_values_query,
    promtool,
    substitute,
    variable_query,
)

SCRIPT = ROOT / "scripts" / "prometheus"


@dataclass(frozen=True)
class PanelQuery:
    panel: str
    ref: str
    expr: str  # as written in the dashboard, with Grafana's variables

    def promql(self, variables: Mapping[str, str] | None = None, rate_interval: str | None = None) -> str:
        """The query Prometheus gets: template variables from ``variables`` (default ``.*``),
        Grafana's own from GRAFANA_BUILTINS (``$__rate_interval`` = ``rate_interval`` if given)."""
        values = dict(GRAFANA_BUILTINS)
        if rate_interval is not None:
            values["__rate_interval"] = rate_interval
        for name in ("tenant", "region", "team"):
            values[name] = ".*"
        values.update(variables or {})
        return substitute(self.expr, values)

    def __str__(self) -> str:
        return f"panel {self.panel!r} query {self.ref}"


def panel_queries(dashboard: Mapping[str, Any]) -> list[PanelQuery]:
    return [PanelQuery(panel["title"], target["refId"], target["expr"])
            for panel in iter_panels(dict(dashboard)) if not is_row(panel)
            for target in panel.get("targets", [])]


def variable_selectors(dashboard: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Template variable → (series selector, label) of its ``label_values(...)`` query."""
    return {v["name"]: label_values_query(variable_query(v)) for v in dashboard_variables(dict(dashboard))}


class PrometheusApi:
    """The HTTP API of a running Prometheus."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def _get(self, path: str, params: Sequence[tuple[str, str]] = ()) -> Any:
        query = urllib.parse.urlencode(list(params))
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=30) as resp:
            body = json.load(resp)
        if body.get("status") != "success":
            raise RuntimeError(f"Prometheus {path}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result: vector samples ({"metric", "value"}), [] for none."""
        data = self._get("/api/v1/query", [("query", expr)])
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def label_values(self, label: str, match: str) -> list[str]:
        return list(self._get(f"/api/v1/label/{label}/values", [("match[]", match)]))

    def targets(self) -> list[dict[str, Any]]:
        return list(self._get("/api/v1/targets")["activeTargets"])

    def rules(self) -> list[dict[str, Any]]:
        return [rule for group in self._get("/api/v1/rules")["groups"] for rule in group["rules"]]

    def wait_until_up(self, job: str, count: int, timeout: float) -> bool:
        """True once ``count`` targets of ``job`` were scraped successfully (``up == 1``)."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.query(f'up{{job="{job}"}} == 1')) >= count:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)


def queries_without_data(api: PrometheusApi, queries: Sequence[PanelQuery], timeout: float,
                         variables: Mapping[str, str] | None = None,
                         rate_interval: str = "15s") -> list[PanelQuery]:
    """The queries that still return no sample when ``timeout`` seconds have passed (each is
    asked again until it returns one). ``rate_interval`` replaces ``$__rate_interval``: at least
    a few scrape intervals, so that rate() has two samples."""
    pending = list(queries)
    deadline = time.monotonic() + timeout
    while pending:
        pending = [q for q in pending if not api.query(q.promql(variables, rate_interval))]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    return pending


def _script(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=dict(env),
                          timeout=300, check=False)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def prometheus_server(targets: Mapping[str, Sequence[str]], port: str | None = None) -> Iterator[PrometheusApi]:
    """A private Prometheus scraping ``targets`` (job → ["host:port", …]) every second and
    evaluating deploy/prometheus/alerts.yml; stopped at the end unless it was already running
    (then it is only reconfigured). Without a ``port`` (nor $ATTAIN_PROMETHEUS_PORT) each call
    gets a free port of its own, hence its own server and state dir: tests running at the same
    time in several processes never reconfigure each other's Prometheus."""
    promtool()  # skip locally / fail on CI when Debian's prometheus package is missing
    env = {**os.environ, "ATTAIN_PROMETHEUS_PORT": port or os.environ.get("ATTAIN_PROMETHEUS_PORT")
           or str(_free_port())}
    already = _script("status", env=env).returncode == 0
    args = [f"{job}={addr}" for job, addrs in targets.items() for addr in addrs]
    started = _script("start", *args, env=env)
    if started.returncode != 0:
        raise RuntimeError(f"scripts/prometheus start failed:\n{started.stderr[-3000:]}")
    try:
        yield PrometheusApi(started.stdout.strip().splitlines()[-1])
    finally:
        if not already:
            _script("stop", env=env)
