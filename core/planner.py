"""Planning one tenant's part of a batch: classify every event against the stored state and
compute the rows and KPI deltas to write (pure but for the reads through the batch writer)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .kpi import Components, Contributor, add_into, classify, day_cell, fact_day_cell
from .leadlinks import Link, merge_links, with_source
from .models import AnyEvent, DealEvent, entity_key
from .records import Record, Result
from .rollups import DayCell, expand
from .store.writer import BatchWriter, Plan
from .validation import CONFLICT_REASON, same_content


def plan_batch(writer: BatchWriter, contribute: Contributor, tenant: str,
               items: Sequence[tuple[Record, AnyEvent]], check_all_ids: bool = True
               ) -> tuple[Plan, Result, list[tuple[AnyEvent, str]], dict[str, DealEvent]]:
    """The plan, the result, every valid event's outcome and the stored snapshots the accepted
    deals replace (by deal id) of ``items`` (one tenant's events).

    Which event ids are looked up in the event log: with ``check_all_ids``, every one. Else
    only those of facts and of deal events that are not newer than their deal's stored
    version (a duplicate or a stale event): a deal event that is newer cannot have been
    stored already unless its id was reused for another event, and then the event log's
    unique index rejects the batch's insert (the caller re-plans with ``check_all_ids``).
    """
    res = Result()
    stored = writer.load_deals(tenant, list({ev.deal_id for _, ev in items if type(ev) is DealEvent}))
    lookup = _ids_to_look_up(items, stored, check_all_ids)
    # event id → the stored payload, or (for an id first seen in this batch) its event
    seen: dict[str, str | AnyEvent] = (
        writer.stored_payloads(tenant, list(lookup)) if lookup else {})  # type: ignore[assignment]

    current: dict[str, DealEvent] = dict(stored)
    facts: list[AnyEvent] = []
    log_rows: list[tuple[Any, ...]] = []
    outs: list[tuple[AnyEvent, str]] = []
    conflicts: list[tuple[Record, str]] = []
    accepted = stale = duplicates = 0
    for rec, ev in items:
        eid = ev.event_id
        p = rec.payload
        payload = p.decode() if type(p) is bytes else p if isinstance(p, str) else None
        first = seen.get(eid)
        if first is not None:
            if same_content(first, payload, ev):
                duplicates += 1
                outs.append((ev, "duplicate"))
            else:
                conflicts.append((rec, CONFLICT_REASON))
            continue
        seen[eid] = ev
        if type(ev) is DealEvent:
            version: int | None = ev.version
            cur = current.get(ev.deal_id)
            outcome = classify(False, None if cur is None else cur.version, ev.version)
            if outcome == "accepted":
                current[ev.deal_id] = ev
                accepted += 1
            else:
                stale += 1
            outs.append((ev, outcome))
            entity = ev.deal_id
        else:
            version = None
            facts.append(ev)
            accepted += 1
            outs.append((ev, "accepted"))
            entity = entity_key(ev)
        log_rows.append((tenant, eid, ev.type, entity, version,
                         ev.model_dump_json() if payload is None else payload))
    res.accepted, res.stale, res.duplicates = accepted, stale, duplicates
    res.conflicts = len(conflicts)

    changed = [d for d, e in current.items() if stored.get(d) is not e]
    old_links, new_links = _links(writer, tenant, changed, facts)
    recount = _relinked(writer, tenant, stored, current, changed, old_links, new_links)
    cells = (cell_deltas(contribute, stored, current, recount, facts, old_links,
                         {**old_links, **new_links}) if recount or facts else {})
    deltas = expand(cells, contribute.priced) if cells else {}
    res.changed_cells = {(tenant, c) for c in deltas}
    counts = {
        'attain_events_total{outcome="accepted"}': res.accepted,
        'attain_events_total{outcome="duplicate"}': res.duplicates,
        'attain_events_total{outcome="stale"}': res.stale,
    }
    deal_row = writer.deal_row
    plan = Plan(tenant=tenant, log_rows=log_rows,
                deal_rows=[deal_row(current[d]) for d in changed],
                deltas=deltas, counts={k: v for k, v in counts.items() if v},
                conflicts=conflicts, links=new_links)
    previous = {d: old for d in changed if (old := stored.get(d)) is not None}
    return plan, res, outs, previous


def _ids_to_look_up(items: Sequence[tuple[Record, AnyEvent]], stored: dict[str, DealEvent],
                    check_all_ids: bool) -> set[str]:
    """The event ids to look up in the event log (see :func:`plan_batch`)."""
    if check_all_ids:
        return {ev.event_id for _, ev in items}
    lookup = set()
    for _, ev in items:
        if type(ev) is not DealEvent:
            lookup.add(ev.event_id)
        else:
            old = stored.get(ev.deal_id)
            if old is not None and ev.version <= old.version:
                lookup.add(ev.event_id)
    return lookup


def _links(writer: BatchWriter, tenant: str, changed: Sequence[str], facts: Sequence[AnyEvent]
           ) -> tuple[dict[str, Link], dict[str, Link]]:
    """The stored converted-lead links of the deals this batch touches (changed, or named by
    one of its converted leads) and the links of the batch that win over them."""
    batch = merge_links({}, facts)
    if not batch and not (changed and writer.has_links(tenant)):
        return {}, {}
    old = writer.load_links(tenant, sorted(set(changed) | set(batch)))
    return old, merge_links(old, facts)


def _relinked(writer: BatchWriter, tenant: str, stored: dict[str, DealEvent],
              current: dict[str, DealEvent], changed: list[str], old_links: Mapping[str, Link],
              new_links: Mapping[str, Link]) -> list[str]:
    """The deals to count again: the changed ones and those whose link's source this batch
    changed (their stored snapshots loaded into ``stored`` and ``current`` as they are)."""
    if not new_links:
        return changed
    relinked = [d for d, link in new_links.items()
                if (old := old_links.get(d)) is None or old[2] != link[2]]
    missing = [d for d in relinked if d not in current]
    if missing:
        for d, snap in writer.load_deals(tenant, missing).items():
            stored[d] = current[d] = snap
    counted = set(changed)
    return changed + [d for d in relinked if d in current and d not in counted]


def cell_deltas(contribute: Contributor, stored: dict[str, DealEvent], current: dict[str, DealEvent],
                changed: Sequence[str], facts: Sequence[AnyEvent],
                old_links: Mapping[str, Link] | None = None,
                new_links: Mapping[str, Link] | None = None) -> dict[DayCell, Components]:
    """Day-level KPI cell deltas (:func:`attain.core.rollups.expand` turns them into roll-up
    deltas): each changed deal's old snapshot retracted and its new one added, each seen with
    its converted-lead link before and after the batch (:func:`attain.core.leadlinks.with_source`);
    each accepted fact added once (facts never change, and an accepted one's id is new)."""
    deltas: dict[DayCell, Components] = {}
    before, after = old_links or {}, new_links or {}
    for d in changed:
        old = stored.get(d)
        if old is not None:
            link = before.get(d)
            if link is not None:
                old = with_source(old, link[2])
            add_into(deltas, day_cell(old), contribute(old), -1)
        new = current[d]
        link = after.get(d)
        if link is not None:
            new = with_source(new, link[2])
        add_into(deltas, day_cell(new), contribute(new), +1)
    fact_types = contribute.fact_types
    for ev in facts:
        if ev.type in fact_types:
            comps = contribute(ev)
            if comps:
                add_into(deltas, fact_day_cell(ev), comps)
    return deltas
