"""The API's Prometheus metrics (docs/metrics.md), through ``prometheus-client`` only.

* Counters and histograms of this process: events by outcome, plugin errors, batch duration
  (``source="api"``), HTTP requests and their duration (``route`` = the route's template).
  With several server processes (``PROMETHEUS_MULTIPROC_DIR`` set before start), they are
  ``prometheus_client``'s multiprocess values, added up over the processes at scrape time.
* Gauges read from the store at scrape time by :class:`StoreCollector` (KPIs, funnel, goals,
  commission accruals), for the tenants the API serves: every process reports the store's
  current value, once.

Labels are bounded: tenants, reps, teams, regions, products, stages, goals, plugins, routes.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from attain.core import Engine, Period, Result
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

log = logging.getLogger("attain.api")

OUTCOMES = ("accepted", "duplicate", "stale", "conflict", "rejected")
GOAL_STATUSES = ("on_track", "at_risk", "off_track", "achieved")
#: the contract's ``grouping`` label → the engine's grouping
GROUPINGS = {"company": "all", "rep": "rep", "team": "manager", "region": "region", "product": "product"}

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS = Counter("attain_events", "Events handed to Engine.process, by outcome.",
                 ["tenant", "outcome"], registry=REGISTRY)
PLUGIN_ERRORS = Counter("attain_plugin_errors", "Plugin hooks that raised (isolated).",
                        ["tenant", "plugin", "hook"], registry=REGISTRY)
BATCH_SECONDS = Histogram("attain_batch_duration_seconds", "Seconds of one Engine.process batch.",
                          ["source"], registry=REGISTRY)
HTTP_REQUESTS = Counter("attain_http_requests", "HTTP requests answered.",
                        ["route", "method", "status"], registry=REGISTRY)
HTTP_SECONDS = Histogram("attain_http_request_duration_seconds", "Seconds to answer an HTTP request.",
                         ["route", "method"], registry=REGISTRY)

_seen: set[str] = set()
_seen_lock = threading.Lock()


def see_tenant(tenant: str, hooks: Iterable[tuple[str, str]]) -> None:
    """Create the tenant's event and plugin-error series at 0 (``rate()`` needs a first sample)."""
    with _seen_lock:
        if tenant in _seen:
            return
        _seen.add(tenant)
    for outcome in OUTCOMES:
        EVENTS.labels(tenant, outcome)
    for plugin, hook in hooks:
        PLUGIN_ERRORS.labels(tenant, plugin, hook)


def plugin_hooks(plugins: Any) -> list[tuple[str, str]]:
    """(plugin, hook) of every loaded plugin's hook implementations."""
    return [(p["name"], h) for p in plugins.info() for h in p["hooks"]]


def count_batch(tenant: str, result: Result, errors: dict[tuple[str, str], int], seconds: float,
                source: str = "api") -> None:
    """One processed batch: its outcomes, the plugin errors it caused and its duration."""
    for outcome, n in (("accepted", result.accepted), ("duplicate", result.duplicates),
                       ("stale", result.stale), ("conflict", result.conflicts),
                       ("rejected", result.rejected)):
        if n:
            EVENTS.labels(tenant, outcome).inc(n)
    for (plugin, hook), n in errors.items():
        if n > 0:
            PLUGIN_ERRORS.labels(tenant, plugin, hook).inc(n)
    BATCH_SECONDS.labels(source).observe(seconds)


def _float(v: Any) -> float | None:
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None


class StoreCollector(Collector):
    """The KPI, funnel, goal and commission gauges of ``tenants()``, read from the store when
    Prometheus scrapes. A tenant whose read fails is logged and left out (the scrape goes on)."""

    def __init__(self, engine: Engine, tenants: Callable[[], Iterable[str]]) -> None:
        self.engine = engine
        self.tenants = tenants

    def describe(self) -> list[Metric]:
        return []  # read at scrape time: nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        kpi = GaugeMetricFamily("attain_kpi", "A KPI's current value for one group.",
                                labels=["tenant", "metric", "grouping", "key"])
        funnel = GaugeMetricFamily("attain_funnel_deals", "Open deals per CRM stage.",
                                   labels=["tenant", "stage"])
        ratio = GaugeMetricFamily("attain_goal_attainment_ratio", "A goal's attainment (actual / target).",
                                  labels=["tenant", "goal", "owner"])
        status = GaugeMetricFamily("attain_goal_status", "1 for the goal's current status, else 0.",
                                   labels=["tenant", "goal", "owner", "status"])
        target = GaugeMetricFamily("attain_goal_target", "A goal's target, in the unit of its KPI.",
                                   labels=["tenant", "goal", "owner"])
        accrued = GaugeMetricFamily("attain_commission_accrued",
                                    "A rep's commission accrued in the current period.",
                                    labels=["tenant", "rep"])
        company = GaugeMetricFamily("attain_commission_accrued_company",
                                    "The tenant's commission accrued in the current period.",
                                    labels=["tenant"])
        for tenant in sorted(set(self.tenants())):
            try:
                self._kpis(tenant, kpi)
                self._funnel(tenant, funnel)
                self._goals(tenant, ratio, status, target)
                self._accruals(tenant, accrued, company)
            except Exception:  # a scrape must not fail for one tenant's read
                log.exception("metrics of tenant %s could not be read", tenant)
        yield from (kpi, funnel, ratio, status, target, accrued, company)

    def _kpis(self, tenant: str, fam: GaugeMetricFamily) -> None:
        names = [m.name for m in self.engine.metrics(tenant)]
        for grouping, engine_grouping in GROUPINGS.items():
            for row in self.engine.kpis(tenant, engine_grouping):
                key = "" if grouping == "company" else str(row["key"] if row["key"] is not None else "")
                for name in names:
                    v = _float(row.get(name))
                    if v is not None:
                        fam.add_metric([tenant, name, grouping, key], v)

    def _funnel(self, tenant: str, fam: GaugeMetricFamily) -> None:
        stages: dict[str, int] = {}
        for d in self.engine.deals(tenant):
            if d.status == "open":
                stages[d.stage] = stages.get(d.stage, 0) + 1
        for stage, n in sorted(stages.items()):
            fam.add_metric([tenant, stage], n)

    def _goals(self, tenant: str, ratio: GaugeMetricFamily, status: GaugeMetricFamily,
               target: GaugeMetricFamily) -> None:
        if "goals" in self.engine.disabled(tenant) or "goals" not in self.engine.plugins.names():
            return
        from attain.plugins.goals import GoalService

        for row in GoalService(self.engine, tenant).progress(dt.date.today()):
            if row["status"] not in GOAL_STATUSES:
                continue
            labels = [tenant, str(row["id"]), str(row["owner"])]
            a, t = _float(row["attainment"]), _float(row["target"])
            if a is not None:
                ratio.add_metric(labels, a)
            if t is not None:
                target.add_metric(labels, t)
            for s in GOAL_STATUSES:
                status.add_metric([*labels, s], 1.0 if row["status"] == s else 0.0)

    def _accruals(self, tenant: str, per_rep: GaugeMetricFamily, company: GaugeMetricFamily) -> None:
        if "incentives" in self.engine.disabled(tenant) or "incentives" not in self.engine.plugins.names():
            return
        from attain.plugins.incentives import Incentives

        rows = Incentives(self.engine, tenant).accruals()
        if not rows:
            return
        current = max({r["period"] for r in rows}, key=lambda k: (Period.parse(k).end, -Period.parse(k).days))
        total = 0.0
        for r in rows:
            if r["period"] == current:
                v = _float(r["total"]) or 0.0
                per_rep.add_metric([tenant, str(r["rep"])], v)
                total += v
        company.add_metric([tenant], total)


def exposition(collector: StoreCollector | None) -> bytes:
    """The text exposition of this process's metrics (all processes' in multiprocess mode) and
    of the store's gauges."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_Forward(REGISTRY))
    if collector is not None:
        registry.register(collector)
    return generate_latest(registry)


class _Forward(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        return iter(self.registry.collect())

