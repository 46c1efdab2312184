"""Event builders for tests: valid event dicts with sensible defaults; every keyword overrides.

Each call gets a fresh ``event_id`` (``e1``, ``e2`` … per process; :func:`reset_ids` restarts the
numbering). Amounts may be given as text or Decimal (money is never a float).
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

_ids = itertools.count(1)


def reset_ids() -> None:
    """Start event ids at ``e1`` again."""
    global _ids
    _ids = itertools.count(1)


def _event(kind: str, fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": kind, "event_id": f"e{next(_ids)}"}
    for k, v in fields.items():
        out[k] = str(v) if isinstance(v, Decimal) else v
    return out


def deal(deal_id: str, version: int = 1, *, status: str = "open", owner: str = "Ann",
         amount: str | Decimal | None = None, occurred_at: str = "2017-05-01T12:00:00Z",
         closed_on: str | None = None, **fields: Any) -> dict[str, Any]:
    """A deal snapshot; a won or lost deal closes on ``closed_on`` (default its occurred day)."""
    if status != "open" and closed_on is None:
        closed_on = occurred_at[:10]
    stage = {"won": "Won", "lost": "Lost"}.get(status, "Engaging")
    return _event("deal", {"deal_id": deal_id, "version": version, "occurred_at": occurred_at,
                           "owner": owner, "stage": fields.pop("stage", stage), "status": status,
                           "amount": amount, "closed_on": closed_on, **fields})


def lead(lead_id: str, kind: str = "created", *, occurred_at: str = "2017-05-01T12:00:00Z",
         **fields: Any) -> dict[str, Any]:
    """A lead event (``created``, ``mql``, ``sal``, ``sql``, ``converted``, ``disqualified``)."""
    return _event("lead", {"lead_id": lead_id, "kind": kind, "occurred_at": occurred_at, **fields})


def activity(activity_id: str, kind: str = "call", *, owner: str = "Ann",
             occurred_at: str = "2017-05-01T12:00:00Z", **fields: Any) -> dict[str, Any]:
    """An activity (``call``, ``email``, ``meeting``, ``demo``)."""
    return _event("activity", {"activity_id": activity_id, "kind": kind, "owner": owner,
                               "occurred_at": occurred_at, **fields})


def customer(account: str, kind: str = "churned", *, occurred_at: str = "2017-05-01T12:00:00Z",
             **fields: Any) -> dict[str, Any]:
    """A customer event (e.g. ``churned``)."""
    return _event("customer", {"account": account, "kind": kind, "occurred_at": occurred_at,
                               **fields})
