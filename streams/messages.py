"""Kafka messages of ``attain.events`` as the engine's records: grouped by tenant, keyed, and cut in
offset order around ranges that must be re-read."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from attain.core import Record

from . import codec


def source_of(msg: Any) -> str:
    return f"kafka:{msg.topic}/{msg.partition}@{msg.offset}"


def produced_at(msg: Any) -> float | None:
    """A message's Kafka timestamp (the producer's create time, or the broker's log-append time),
    in epoch seconds: Faust's messages carry it in seconds (a float), aiokafka's records (the
    re-read ranges) in milliseconds (an int); ``None`` when the message has none."""
    ts = getattr(msg, "timestamp", None)
    if ts is None or ts < 0:
        return None
    return ts / 1000.0 if isinstance(ts, int) else float(ts)


def accepted_times(records: Iterable[Record], accepted: Mapping[str, int],
                   produced: Mapping[str, float]) -> list[float]:
    """The Kafka timestamps (``produced``: record source → epoch seconds) of the records whose
    event was accepted (``accepted``: event id → how many accepted events carry it, from
    :attr:`attain.core.Result.outcomes`), each accepted event once."""
    left = dict(accepted)
    out: list[float] = []
    for rec in records:
        if not left:
            break
        ts = produced.get(rec.source)
        p = rec.payload
        if ts is None or rec.reason is not None or not isinstance(p, (str, bytes)):
            continue
        try:
            data = json.loads(p)
        except (ValueError, TypeError):
            continue  # not JSON: rejected, never accepted
        eid = data.get("event_id") if isinstance(data, dict) else None
        key = None if eid is None else str(eid)
        if key in left:
            out.append(ts)
            left[key] -= 1
            if not left[key]:
                del left[key]
    return out


def records_of(msgs: Sequence[Any]) -> tuple[dict[str, list[Record]], dict[str, bytes | None],
                                                dict[str, dict[int, list[int]]]]:
    """Kafka messages (Faust's or aiokafka's) as ``Engine.process`` input: per tenant (from the
    key) the records, each message's key by source, and per tenant the offsets taken per
    partition."""
    groups: dict[str, list[Record]] = {}
    keys: dict[str, bytes | None] = {}
    taken: dict[str, dict[int, list[int]]] = {}
    for msg in msgs:
        key = msg.key if isinstance(msg.key, bytes) or msg.key is None else str(msg.key).encode()
        value = msg.value if isinstance(msg.value, bytes) else str(msg.value).encode()
        source = source_of(msg)
        keys[source] = key
        tenant = codec.tenant_of_key(key)
        rejected = codec.parse_rejected(value) if value[:1] == b"{" else None
        if rejected is None:
            groups.setdefault(tenant, []).append(Record(value, source=source))
        else:  # a connector's rejection, published as such: dead-lettered with its own reason
            reason, origin, payload = rejected
            rec = Record(payload, source=f"{origin} ({source})", reason=reason)
            keys[rec.source] = key
            groups.setdefault(tenant, []).append(rec)
        taken.setdefault(tenant, {}).setdefault(msg.partition, []).append(msg.offset)
    return groups, keys, taken


def offset_order(msgs: Sequence[Any], skipped: Sequence[tuple[int, int, int]]
                 ) -> list[tuple[list[Any], list[tuple[int, int, int]]]]:
    """A batch cut around the ranges its fetch skipped, as ``(messages, ranges)`` steps: process
    the messages, then re-read the ranges, step after step, and every partition is processed in
    offset order. ``skipped``: ``(partition, first, last)``, in offset order per partition (as
    :meth:`StreamWorker._check_skips` finds them).

    A step's messages are those below their partition's next skipped range (all of a partition
    with none left); its ranges are each partition's next one. Without skipped ranges, one step:
    the whole batch and nothing to re-read.
    """
    todo: dict[int, list[tuple[int, int, int]]] = {}
    for gap in skipped:
        todo.setdefault(gap[0], []).append(gap)
    steps: list[tuple[list[Any], list[tuple[int, int, int]]]] = []
    rest = list(msgs)
    while todo:
        cut = {p: gaps[0][1] for p, gaps in todo.items()}
        head = [m for m in rest if m.partition not in cut or m.offset < cut[m.partition]]
        rest = [m for m in rest if m.partition in cut and m.offset >= cut[m.partition]]
        steps.append((head, [gaps.pop(0) for gaps in todo.values()]))
        todo = {p: gaps for p, gaps in todo.items() if gaps}
    steps.append((rest, []))
    return steps
