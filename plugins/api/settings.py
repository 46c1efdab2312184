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

    @staticmethod
    def from_env() -> ApiSettings:
        return ApiSettings(max_body=_int("ATTAIN_API_MAX_BODY", ApiSettings.max_body),
                           max_events=_int("ATTAIN_API_MAX_EVENTS", ApiSettings.max_events))
