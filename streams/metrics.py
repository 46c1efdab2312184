"""The worker's metrics at ``/metrics`` (when its web server is on), through ``prometheus-client``.

Two sets, in one registry per worker (the worker is one process: Faust does not fork):

* the contract of docs/metrics.md: ``attain_events_total{tenant,outcome}``,
  ``attain_plugin_errors_total{tenant,plugin,hook}`` (the plugin failures each batch caused, as
  the plugin manager isolated and counted them), ``attain_batch_duration_seconds{source="worker"}``,
  ``attain_event_to_kpi_seconds`` (an accepted event's Kafka timestamp → the KPI update that
  reflects it delivered to ``attain.kpi-updates``), ``attain_consumer_lag{topic,partition}``
  (high-water mark − the store's next offset of each partition the worker owns, read at scrape
  time, so a partition lost in a rebalance drops out);
* the worker's own counters (``attain_stream_*``, docs/streams.md), labelled ``app``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from attain.core import Result
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

OUTCOMES = ("accepted", "duplicate", "stale", "conflict", "rejected")
#: ``attain_event_to_kpi_seconds``: prometheus-client's default buckets (5 ms … 10 s) and, for a
#: backlog being worked off, 30 s … 10 minutes
KPI_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
                       10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

#: the worker's own counters: (attribute, metric name without _total, help)
COUNTERS = (
    ("batches", "attain_stream_batches", "batches the agent processed"),
    ("events", "attain_stream_events", "events handed to Engine.process (agent and re-reads; = accepted "
     "+ duplicates + stale + conflicts + rejected)"),
    ("accepted", "attain_stream_accepted", "events accepted"),
    ("duplicates", "attain_stream_duplicates", "duplicate events (already seen event ids, e.g. redelivered)"),
    ("stale", "attain_stream_stale", "stale deal versions"),
    ("conflicts", "attain_stream_conflicts",
     "events reusing a seen event id with different content (dead-lettered)"),
    ("rejected", "attain_stream_rejected", "invalid events"),
    ("deadletters_sent", "attain_stream_deadletters_sent", "messages sent to the dead-letter topic"),
    ("kpi_rows_sent", "attain_stream_kpi_rows_sent", "KPI rows published"),
    ("retries", "attain_stream_retries", "store write retries"),
    ("repaired", "attain_stream_repaired", "events re-read directly because Faust's fetch skipped them "
     "or Kafka's committed offset was past the store's"),
    ("resume_repairs", "attain_stream_resume_repairs",
     "assignments where Kafka's committed offset was past the store's"),
    ("batch_seconds", "attain_stream_batch_seconds", "seconds spent processing the agent's batches"),
)


def outcome_counts(res: Result) -> dict[str, int]:
    """outcome (docs/metrics.md) → events of a result."""
    return {"accepted": res.accepted, "duplicate": res.duplicates, "stale": res.stale,
            "conflict": res.conflicts, "rejected": res.rejected}


@dataclass
class Stats:
    """Worker-local counters and the contract's metrics, exposed at ``/metrics``."""

    batches: int = 0
    events: int = 0
    accepted: int = 0
    duplicates: int = 0
    stale: int = 0
    conflicts: int = 0
    rejected: int = 0
    deadletters_sent: int = 0
    kpi_rows_sent: int = 0
    retries: int = 0
    repaired: int = 0
    batch_seconds: float = 0.0
    resume_repairs: int = 0
    last_offsets: dict[int, int] = field(default_factory=dict)
    #: ``(plugin, hook)`` of every loaded plugin's hooks: a tenant's plugin-error series start at 0
    hooks: list[tuple[str, str]] = field(default_factory=list)
    registry: CollectorRegistry = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.events_total = Counter("attain_events", "Events handed to Engine.process, by outcome.",
                                    ["tenant", "outcome"], registry=self.registry)
        self.batch_duration = Histogram("attain_batch_duration_seconds", "Seconds of one Engine.process "
                                        "batch.", ["source"], registry=self.registry)
        self.plugin_errors = Counter("attain_plugin_errors", "Plugin hooks that raised (isolated).",
                                     ["tenant", "plugin", "hook"], registry=self.registry)
        self.event_to_kpi = Histogram("attain_event_to_kpi_seconds", "Seconds from an event's Kafka "
                                      "timestamp to the delivery of the KPI update reflecting it.",
                                      registry=self.registry, buckets=KPI_LATENCY_BUCKETS)
        self._tenants: set[str] = set()
        self._scrape: dict[str, Any] = {"app": "", "table": 0, "offsets": {}, "lag": {}}
        self.registry.register(_Scraped(self))

    def add(self, res: Result, events: int) -> None:
        self.events += events
        self.accepted += res.accepted
        self.duplicates += res.duplicates
        self.stale += res.stale
        self.conflicts += res.conflicts
        self.rejected += res.rejected

    def count_tenant(self, tenant: str, res: Result) -> None:
        """One tenant's part of a batch (``attain_events_total``; every outcome's series and
        every loaded plugin hook's error series of the tenant exist from its first batch on)."""
        if tenant not in self._tenants:
            self._tenants.add(tenant)
            for o in OUTCOMES:
                self.events_total.labels(tenant, o)
            for plugin, hook in self.hooks:
                self.plugin_errors.labels(tenant, plugin, hook)
        for outcome, n in outcome_counts(res).items():
            if n:
                self.events_total.labels(tenant, outcome).inc(n)

    def count_plugin_errors(self, tenant: str, errors: Mapping[tuple[str, str], int]) -> None:
        """The plugin failures one tenant's batch caused: ``(plugin, hook)`` → how many."""
        for (plugin, hook), n in errors.items():
            if n > 0:
                self.plugin_errors.labels(tenant, plugin, hook).inc(n)

    def observe_event_to_kpi(self, produced: Iterable[float], published: float) -> None:
        """The KPI update reflecting events produced at ``produced`` (epoch seconds) was
        delivered at ``published``: one observation per event (never below 0: clocks differ)."""
        observe = self.event_to_kpi.observe
        for t in produced:
            observe(max(0.0, published - t))

    def observe_batch(self, seconds: float) -> None:
        """One batch of the agent took ``seconds``."""
        self.batch_seconds += seconds
        self.batch_duration.labels("worker").observe(seconds)

    def exposition(self, app_id: str, table_size: int, next_offsets: Mapping[int, int],
                   lag: Mapping[tuple[str, int], int] | None = None) -> bytes:
        """Every metric in the text exposition format (version 0.0.4); ``lag``: (topic,
        partition) → events behind, for the partitions the worker owns now."""
        self._scrape = {"app": app_id, "table": table_size, "offsets": dict(next_offsets),
                        "lag": dict(lag or {})}
        return generate_latest(self.registry)

    def prometheus(self, app_id: str, table_size: int, next_offsets: Mapping[int, int],
                   lag: Mapping[tuple[str, int], int] | None = None) -> str:
        return self.exposition(app_id, table_size, next_offsets, lag).decode("utf-8")


class _Scraped(Collector):
    """The values read when Prometheus scrapes: the worker's counters, table size, offsets, lag."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        s, now = self.stats, self.stats._scrape
        for attr, name, help_ in COUNTERS:
            fam = CounterMetricFamily(name, help_, labels=["app"])
            value = getattr(s, attr)
            fam.add_metric([now["app"]], round(value, 6) if isinstance(value, float) else value)
            yield fam
        table = GaugeMetricFamily("attain_stream_table_keys", "deals in the worker's local deal-state "
                                  "table (0 with ATTAIN_STREAM_TABLE=0)", labels=["app"])
        table.add_metric([now["app"]], now["table"])
        yield table
        nxt = GaugeMetricFamily("attain_stream_next_offset", "the store's next offset to process per "
                                "partition (every offset below it is processed)", labels=["app", "partition"])
        for p, o in sorted(now["offsets"].items()):
            nxt.add_metric([now["app"], str(p)], o)
        yield nxt
        lag = GaugeMetricFamily("attain_consumer_lag", "High-water mark minus the store's next offset of "
                                "each partition the worker owns.", labels=["topic", "partition"])
        for (topic, p), n in sorted(now["lag"].items()):
            lag.add_metric([topic, str(p)], max(0, n))
        yield lag
