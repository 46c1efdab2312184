"""Stream settings, read from the environment (every command-line option has a variable).

======================================  ===============================================  ============
variable                                meaning                                          default
======================================  ===============================================  ============
``ATTAIN_KAFKA_BOOTSTRAP``              comma-separated ``host:port`` brokers            127.0.0.1:9092
``ATTAIN_KAFKA_PARTITIONS``             partitions of the topics created at start-up      4
``ATTAIN_KAFKA_REPLICATION``            replication factor of those topics                1
``ATTAIN_KAFKA_TOPIC_PREFIX``           prefix of every topic name (one cluster, many     ""
                                        isolated deployments or tests)
``ATTAIN_FAUST_APP_ID``                 Faust app id = consumer group; also prefixes      attain
                                        the table's changelog topic
``ATTAIN_STREAM_BATCH``                 most events handed to one ``Engine.process``      500
``ATTAIN_STREAM_WITHIN``                seconds a partial batch waits for more events     0.02
``ATTAIN_KAFKA_SESSION_TIMEOUT``        consumer group session timeout, seconds           30
``ATTAIN_FETCH_MIN_BYTES``              bytes a fetch waits for (Kafka's                  16384
                                        ``fetch.min.bytes``; Kafka's default is 1)
``ATTAIN_FETCH_MAX_WAIT_MS``            most ms a fetch waits for them (Kafka's           10
                                        ``fetch.max.wait.ms``; Faust's is 1500)
``ATTAIN_FAUST_DATADIR``                Faust's local state directory                    user data dir
``ATTAIN_STREAM_TABLE``                 ``0``/``false``/``off``: no ``deal-state`` table   on
======================================  ===============================================  ============
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"

EVENTS = "attain.events"
DEADLETTER = "attain.deadletter"
KPI_UPDATES = "attain.kpi-updates"


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


@dataclass(frozen=True)
class StreamConfig:
    bootstrap: str = DEFAULT_BOOTSTRAP
    partitions: int = 4
    replication: int = 1
    topic_prefix: str = ""
    app_id: str = "attain"
    batch_size: int = 500
    batch_within: float = 0.02
    session_timeout: float = 30.0
    #: a fetch returns at 16 KB or after 10 ms: a steady stream is fetched a few dozen events at
    #: a time instead of one or two per fetch (Kafka's fetch.min.bytes=1), which cut the worker's
    #: own CPU per event by a fifth at 30 % of C and raised C by ~15 % (docs/streams.md)
    fetch_min_bytes: int = 16384
    fetch_max_wait_ms: int = 10
    datadir: str | None = None
    table: bool = True

    @classmethod
    def from_env(cls) -> StreamConfig:
        return cls(
            bootstrap=os.environ.get("ATTAIN_KAFKA_BOOTSTRAP", "").strip() or DEFAULT_BOOTSTRAP,
            partitions=_int("ATTAIN_KAFKA_PARTITIONS", 4),
            replication=_int("ATTAIN_KAFKA_REPLICATION", 1),
            topic_prefix=os.environ.get("ATTAIN_KAFKA_TOPIC_PREFIX", ""),
            app_id=os.environ.get("ATTAIN_FAUST_APP_ID", "").strip() or "attain",
            batch_size=_int("ATTAIN_STREAM_BATCH", 500),
            batch_within=_float("ATTAIN_STREAM_WITHIN", 0.02),
            session_timeout=_float("ATTAIN_KAFKA_SESSION_TIMEOUT", 30.0),
            fetch_min_bytes=_int("ATTAIN_FETCH_MIN_BYTES", 16384),
            fetch_max_wait_ms=_int("ATTAIN_FETCH_MAX_WAIT_MS", 10),
            datadir=os.environ.get("ATTAIN_FAUST_DATADIR") or None,
            table=os.environ.get("ATTAIN_STREAM_TABLE", "").strip().lower() not in ("0", "false", "off", "no"),
        )

    def with_(self, **changes: object) -> StreamConfig:
        """A copy with the given fields changed (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]

    @property
    def brokers(self) -> list[str]:
        return [b.strip() for b in self.bootstrap.split(",") if b.strip()]

    @property
    def events_topic(self) -> str:
        return self.topic_prefix + EVENTS

    @property
    def deadletter_topic(self) -> str:
        return self.topic_prefix + DEADLETTER

    @property
    def kpi_topic(self) -> str:
        return self.topic_prefix + KPI_UPDATES

    @property
    def topics(self) -> list[str]:
        return [self.events_topic, self.deadletter_topic, self.kpi_topic]

    def faust_datadir(self) -> Path:
        if self.datadir:
            return Path(self.datadir)
        import platformdirs

        return Path(platformdirs.user_data_dir("attain")) / "faust"
