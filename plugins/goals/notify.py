"""The webhook notifier: an ``attain_notify`` implementation that POSTs ``goal.*`` notifications
as JSON to the URLs in ``ATTAIN_GOALS_WEBHOOK_URL`` and/or the tenant's ``webhook_urls`` setting.

Body (numbers are exact JSON numbers)::

    {"tenant": "default", "kind": "goal.at_risk", "sent_at": "2026-…Z", "payload": {…}}

Every URL is tried; if any fails, a :class:`WebhookError` naming them is raised after the others
were tried, so the core logs and counts it as this plugin's failure (other notifiers still run).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import urllib.error
import urllib.request
from typing import Any

from attain.core import Engine
from attain.core.output import dumps

from .settings import WEBHOOK_ENV, Settings, load_settings, parse_urls

log = logging.getLogger("attain.goals.webhook")


class WebhookError(RuntimeError):
    pass


def webhook_settings(tenant: str, engine: Engine | None = None) -> Settings:
    """Settings of the tenant being notified about (in ``engine``'s database), or from the
    environment alone."""
    if engine is not None:
        from .storage import GoalRepo

        return load_settings(GoalRepo(engine.store.engine).config(tenant))
    return load_settings({})


def post_json(url: str, body: bytes, kind: str, timeout: float) -> int:
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "attain-goals-webhook/1",
        "X-Attain-Event": kind})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (http(s) checked)
        resp.read()
        return int(resp.status)


def send(tenant: str, kind: str, payload: dict[str, Any], urls: list[str] | None = None,
         timeout: float | None = None, engine: Engine | None = None) -> list[str]:
    """POST one notification to every URL; returns the URLs that accepted it."""
    if urls is None:
        settings = webhook_settings(tenant, engine)
        urls = list(settings.webhook_urls)
        timeout = float(settings.webhook_timeout) if timeout is None else timeout
    elif os.environ.get(WEBHOOK_ENV):
        urls = urls + [u for u in parse_urls(os.environ[WEBHOOK_ENV]) if u not in urls]
    if not urls:
        return []
    body = dumps({"tenant": tenant, "kind": kind,
                  "sent_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
                  "payload": payload}, indent=None).encode()
    ok, failed = [], []
    for url in urls:
        try:
            status = post_json(url, body, kind, timeout or 5.0)
        except urllib.error.HTTPError as exc:  # urlopen raises for every non-2xx answer
            exc.close()
            failed.append(f"{url}: HTTP {exc.code} {exc.reason}")
            continue
        except (urllib.error.URLError, OSError, ValueError) as exc:
            failed.append(f"{url}: {getattr(exc, 'reason', exc)}")
            continue
        if 200 <= status < 300:
            ok.append(url)
        else:
            failed.append(f"{url}: HTTP {status}")
    if failed:
        raise WebhookError(f"{kind} for tenant {tenant!r} not delivered to " + "; ".join(failed))
    log.info("%s delivered to %d webhook(s)", kind, len(ok))
    return ok
