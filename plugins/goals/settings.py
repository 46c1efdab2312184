"""Settings of the goals plugin, per tenant.

Resolution order for every key: ``attain goals config set KEY VALUE`` (stored per tenant) →
environment variable ``ATTAIN_GOALS_<KEY>`` → default. Webhook URLs are the union of the stored
``webhook_urls`` and ``ATTAIN_GOALS_WEBHOOK_URL`` (both comma-separated).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from .model import parse_decimal
from .tracking import Thresholds

ENV_PREFIX = "ATTAIN_GOALS_"
WEBHOOK_ENV = "ATTAIN_GOALS_WEBHOOK_URL"


def _positive_decimal(v: str) -> Decimal:
    d = parse_decimal(v, "value")
    if d <= 0:
        raise ValueError(f"{v!r} must be above 0")
    return d


def _days(v: str) -> int:
    n = int(v)
    if n < 1:
        raise ValueError(f"{v!r} must be at least 1 day")
    return n


def _clock(v: str) -> str:
    if v not in ("event", "wall"):
        raise ValueError(f"{v!r}: use event (latest event day seen) or wall (today)")
    return v


def parse_urls(v: str) -> list[str]:
    urls = [u.strip() for u in v.split(",") if u.strip()]
    for u in urls:
        parts = urlsplit(u)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{u!r} is not an http(s) URL")
    return urls


#: key → (parser, default, description)
KEYS: dict[str, tuple[Callable[[str], Any], str, str]] = {
    "achievable_factor": (_positive_decimal, "1.5",
                          "warn when a target exceeds the owner's best equal-length period "
                          "by more than this factor"),
    "on_track_ratio": (_positive_decimal, "0.95", "on_track when attainment ≥ pace × this"),
    "at_risk_ratio": (_positive_decimal, "0.80", "at_risk when attainment ≥ pace × this "
                      "(below: off_track)"),
    "run_rate_days": (_days, "90", "trailing window of the run-rate projection"),
    "clock": (_clock, "event", "as-of day of live re-evaluation: event (latest event day) or wall"),
    "webhook_urls": (parse_urls, "", "comma-separated URLs that receive goal.* notifications"),
    "webhook_timeout": (_positive_decimal, "5", "seconds to wait for a webhook"),
}


@dataclass(frozen=True)
class Settings:
    achievable_factor: Decimal = Decimal("1.5")
    thresholds: Thresholds = field(default_factory=Thresholds)
    run_rate_days: int = 90
    clock: str = "event"
    webhook_urls: tuple[str, ...] = ()
    webhook_timeout: Decimal = Decimal(5)
    sources: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "achievable_factor": self.achievable_factor,
            "on_track_ratio": self.thresholds.on_track,
            "at_risk_ratio": self.thresholds.at_risk,
            "run_rate_days": self.run_rate_days,
            "clock": self.clock,
            "webhook_urls": list(self.webhook_urls),
            "webhook_timeout": self.webhook_timeout,
        }


def validate_setting(key: str, value: str) -> Any:
    if key not in KEYS:
        raise ValueError(f"unknown setting {key!r}; settings: {', '.join(KEYS)}")
    try:
        return KEYS[key][0](value)
    except (ValueError, ArithmeticError) as exc:
        raise ValueError(f"{key}: {exc}") from None


def load_settings(stored: Mapping[str, str] | None = None,
                  env: Mapping[str, str] | None = None) -> Settings:
    stored = stored or {}
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, (parse, default, _) in KEYS.items():
        env_key = ENV_PREFIX + key.upper()
        if key == "webhook_urls":
            env_key = WEBHOOK_ENV
        if key in stored:
            raw, src = stored[key], "config"
        elif env.get(env_key):
            raw, src = env[env_key], f"env {env_key}"
        else:
            raw, src = default, "default"
        try:
            values[key] = parse(raw)
        except (ValueError, ArithmeticError) as exc:
            raise ValueError(f"goals setting {key} ({src}): {exc}") from None
        sources[key] = src
    urls = list(values["webhook_urls"])
    if sources["webhook_urls"] == "config" and env.get(WEBHOOK_ENV):
        urls += [u for u in parse_urls(env[WEBHOOK_ENV]) if u not in urls]
        sources["webhook_urls"] = f"config + env {WEBHOOK_ENV}"
    return Settings(
        achievable_factor=values["achievable_factor"],
        thresholds=Thresholds(on_track=values["on_track_ratio"], at_risk=values["at_risk_ratio"]),
        run_rate_days=values["run_rate_days"],
        clock=values["clock"],
        webhook_urls=tuple(urls),
        webhook_timeout=values["webhook_timeout"],
        sources=sources,
    )
