"""``POST /api/v1/events``: a request body (a JSON array or NDJSON) as the engine's records.

The same rules as ``attain ingest``: every event is validated by the engine, an invalid one is
dead-lettered with its reason (an NDJSON line that is not JSON too) and the valid ones in the
same request still count. A JSON array is split into its elements, each written back as exact
JSON (amounts keep every digit: ``parse_float=Decimal``), so an element is validated exactly as
the same line of a JSON Lines file would be. A body that is not a JSON array although it starts
with ``[`` is refused as a whole (HTTP 400): nothing of it is stored.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from attain.core import Engine, Record, Result, output


class BodyError(ValueError):
    """The body as a whole is unusable (HTTP 400 with the message)."""


class TooManyEvents(ValueError):
    """More events than one request may carry (HTTP 413)."""


def records(body: bytes, max_events: int, source: str = "api") -> list[Record]:
    """The body's events as records, in order (a JSON array, or one JSON document per line)."""
    text = body.lstrip()
    if not text:
        return []
    if text[:1] == b"[":
        try:
            items = json.loads(body, parse_float=Decimal)
        except (ValueError, RecursionError) as exc:
            raise BodyError(f"the body is not a valid JSON array: {_reason(exc)}") from None
        if not isinstance(items, list):  # pragma: no cover - a body starting with [ is a list
            raise BodyError("the body is not a JSON array")
        if len(items) > max_events:
            raise TooManyEvents(f"{len(items)} events in one request; at most {max_events}")
        return [Record(output.dumps(item, indent=None).encode("utf-8"), source, i, numbered=True)
                for i, item in enumerate(items, start=1)]
    out: list[Record] = []
    for i, raw in enumerate(body.split(b"\n"), start=1):
        line = raw.strip()
        if not line:
            continue
        if len(out) >= max_events:
            raise TooManyEvents(f"more than {max_events} events in one request")
        out.append(Record(line, source, i, numbered=True))
    return out


def _reason(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def process(engine: Engine, tenant: str, recs: list[Record]) -> Result:
    """One transaction for the request's events, for the token's tenant: events naming another
    tenant are dead-lettered, as with ``attain ingest --tenant``."""
    if not recs:
        return Result()
    return engine.process(recs, tenant=tenant, default_tenant=tenant)


def summary(result: Result) -> dict[str, Any]:
    """The request's outcome: the counts of ``attain ingest``'s summary line, that line, and each
    dead letter's source and reason."""
    return {**result.as_dict(), "summary": result.summary(),
            "rejections": [{"source": r.source, "reason": r.reason} for r in result.rejections]}
