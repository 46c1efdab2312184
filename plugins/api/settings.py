"""The API's settings, from the environment (docs/api.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, not {value}")
    return value


@dataclass(frozen=True)
class ApiSettings:
    #: the largest request body, in bytes (HTTP 413 above it)
    max_body: int = 10 * 1024 * 1024
    #: the most events one POST /api/v1/events may carry (HTTP 413 above it)
    max_events: int = 10_000
    #: seconds between the keep-alive comments of an idle event stream
    heartbeat: float = 15.0
    #: also feed GET /api/v1/stream from attain.kpi-updates (stream workers run)
    kpi_updates: bool = False
    #: the Kafka brokers and the topic prefix (the workers' settings, docs/streams.md)
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = ""

    @property
    def kpi_topic(self) -> str:
        return self.topic_prefix + "attain.kpi-updates"

    @staticmethod
    def from_env() -> ApiSettings:
        flag = os.environ.get("ATTAIN_API_KPI_UPDATES", "").strip().lower()
        if flag not in ("", "0", "1", "true", "false", "on", "off", "yes", "no"):
            raise ValueError(f"ATTAIN_API_KPI_UPDATES={flag!r} is not 1 or 0")
        return ApiSettings(max_body=_int("ATTAIN_API_MAX_BODY", ApiSettings.max_body),
                           max_events=_int("ATTAIN_API_MAX_EVENTS", ApiSettings.max_events),
                           kpi_updates=flag in ("1", "true", "on", "yes"),
                           kafka_bootstrap=os.environ.get("ATTAIN_KAFKA_BOOTSTRAP", "").strip()
                           or ApiSettings.kafka_bootstrap,
                           topic_prefix=os.environ.get("ATTAIN_KAFKA_TOPIC_PREFIX", ""))
