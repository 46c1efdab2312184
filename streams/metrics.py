"""The worker's own counters, exposed at ``/metrics`` (Prometheus text) when its web server is on."""

from __future__ import annotations

from dataclasses import dataclass, field

from attain.core import Result


@dataclass
class Stats:
    """Worker-local counters, exposed at ``/metrics`` when the web server is enabled."""

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

    def add(self, res: Result, events: int) -> None:
        self.events += events
        self.accepted += res.accepted
        self.duplicates += res.duplicates
        self.stale += res.stale
        self.conflicts += res.conflicts
        self.rejected += res.rejected

    def prometheus(self, app_id: str, table_size: int, next_offsets: dict[int, int]) -> str:
        """The counters in Prometheus' text exposition format (version 0.0.4)."""
        lab = f'app="{app_id}"'
        lines = []
        for name, kind, value, help_ in (
            ("attain_stream_batches_total", "counter", self.batches, "batches the agent processed"),
            ("attain_stream_events_total", "counter", self.events,
             "events handed to Engine.process (agent and re-reads; = accepted + duplicates + stale "
             "+ conflicts + rejected)"),
            ("attain_stream_accepted_total", "counter", self.accepted, "events accepted"),
            ("attain_stream_duplicates_total", "counter", self.duplicates,
             "duplicate events (already seen event ids, e.g. redelivered)"),
            ("attain_stream_stale_total", "counter", self.stale, "stale deal versions"),
            ("attain_stream_conflicts_total", "counter", self.conflicts,
             "events reusing a seen event id with different content (dead-lettered)"),
            ("attain_stream_rejected_total", "counter", self.rejected, "invalid events"),
            ("attain_stream_deadletters_sent_total", "counter", self.deadletters_sent,
             "messages sent to the dead-letter topic"),
            ("attain_stream_kpi_rows_sent_total", "counter", self.kpi_rows_sent, "KPI rows published"),
            ("attain_stream_retries_total", "counter", self.retries, "store write retries"),
            ("attain_stream_repaired_total", "counter", self.repaired,
             "events re-read directly because Faust's fetch skipped them or Kafka's committed "
             "offset was past the store's"),
            ("attain_stream_resume_repairs_total", "counter", self.resume_repairs,
             "assignments where Kafka's committed offset was past the store's"),
            ("attain_stream_batch_seconds_total", "counter", round(self.batch_seconds, 6),
             "seconds spent processing the agent's batches"),
            ("attain_stream_table_keys", "gauge", table_size,
             "deals in the worker's local deal-state table (0 with ATTAIN_STREAM_TABLE=0)"),
        ):
            lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{name}{{{lab}}} {value}"]
        name = "attain_stream_next_offset"
        lines += [f"# HELP {name} the store's next offset to process per partition (every offset "
                  "below it is processed)", f"# TYPE {name} gauge"]
        lines += [f'{name}{{{lab},partition="{p}"}} {o}' for p, o in sorted(next_offsets.items())]
        return "\n".join(lines) + "\n"
