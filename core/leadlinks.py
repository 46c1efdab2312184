"""Marketing attribution through converted leads: the lead a deal came from.

A deal is marketing-sourced when it carries a ``lead_source`` or, when it has none, when a lead
converted into it with a source: a lead event of kind ``converted`` whose ``deal_id`` names the
deal and whose ``source`` is not empty. When several do, the earliest wins (``occurred_at`` in
UTC, then ``event_id``), so the attribution does not depend on the order events arrive in.

The links are kept per deal (``deal_lead_links``) whether or not the deal has arrived yet; every
reader of deal snapshots (KPIs, rebuilds, :meth:`attain.core.Engine.deals`) sees a snapshot's
``lead_source`` as the deal's own or, without one, its link's source (:func:`with_source`). The
``deals`` table keeps the deal's own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from .models import DealEvent, LeadEvent
from .periods import naive_utc

#: a link: (occurred_at as naive UTC, the lead event's id, its source); tuples order earliest first
Link = tuple[dt.datetime, str, str]


def link_of(event: Any) -> tuple[str, Link] | None:
    """``(deal_id, link)`` of a lead event that links a deal to its source, else None."""
    if type(event) is not LeadEvent or event.kind != "converted":
        return None
    source = (event.source or "").strip()
    if not event.deal_id or not source:
        return None
    return event.deal_id, (naive_utc(event.occurred_at), event.event_id, source)


def merge_links(known: Mapping[str, Link], events: Iterable[Any]) -> dict[str, Link]:
    """The links of ``events`` that win over ``known`` (and over each other), by deal id."""
    out: dict[str, Link] = {}
    for ev in events:
        got = link_of(ev)
        if got is None:
            continue
        deal_id, link = got
        best = out.get(deal_id) or known.get(deal_id)
        if best is None or link < best:
            out[deal_id] = link
    return out


def with_source(deal: DealEvent, source: str | None) -> DealEvent:
    """``deal`` as KPIs see it: its own ``lead_source``, or ``source`` (its link's) without one."""
    if deal.lead_source or not source:
        return deal
    return deal.model_copy(update={"lead_source": source})


__all__ = ["Link", "link_of", "merge_links", "with_source"]
