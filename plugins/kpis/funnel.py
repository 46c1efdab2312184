"""The deal funnel from every deal's version history.

Every distinct version of a deal is part of its history, whatever order the versions arrived in:
a stale version (older than the stored snapshot) still says the deal was in that stage then. The
event log keeps every accepted and stale deal event once (a duplicate id is not stored again),
so the history is read from it; for one version number the first event stored wins, as for
snapshots. Pure functions over those events: exact and independent of arrival order.

* A deal belongs to the group of its latest version (owner → rep, manager, region; product;
  account) and to the period of the UTC day it entered the funnel (its earliest version's
  ``occurred_at``): funnel figures are cohorts of deals by the period they were created in.
* Stage order: the tenant's list (``--stages``), by default every stage ordered by the first
  time it was seen (``occurred_at``) across the tenant, ties by name.
* ``reached``: deals with a version in the stage. Conversion S → T (T the next stage in order):
  reached T ÷ reached S. Bottleneck: the stage with the lowest conversion, ties by the longest
  mean days in stage, then the earlier stage.
* Days in a stage: from the first version in that stage to the next version in another stage
  (in version order); a deal still in the stage (no later version elsewhere) is not counted.
  Mean: exact seconds ÷ 86,400, 2 decimals; median: of whole days (rounded down), the mean of
  the two middle ones for an even count.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from attain.core import Dimensions, Period, quantize
from attain.core.models import DealEvent
from attain.core.periods import naive_utc

GROUPINGS = ("all", "rep", "team", "manager", "region", "product", "series", "account", "sector")
DAY = Decimal(86400)


@dataclass
class History:
    """One deal's distinct versions: version → (stage, status, occurred_at as naive UTC)."""

    versions: dict[int, tuple[str, str, dt.datetime]] = field(default_factory=dict)
    latest: DealEvent | None = None

    def add(self, ev: DealEvent) -> None:
        if ev.version not in self.versions:  # the first event stored for a version wins
            self.versions[ev.version] = (ev.stage, ev.status, naive_utc(ev.occurred_at))
            if self.latest is None or ev.version > self.latest.version:
                self.latest = ev

    def entered(self) -> dt.datetime:
        return min(t for _, _, t in self.versions.values())

    def stays(self) -> dict[str, dt.timedelta]:
        """Time in each stage the deal left (first entry → next version in another stage)."""
        ordered = [self.versions[v] for v in sorted(self.versions)]
        out: dict[str, dt.timedelta] = {}
        for i, (stage, _, t) in enumerate(ordered):
            if stage in out or (i and ordered[i - 1][0] == stage):
                continue
            nxt = next((t2 for s2, _, t2 in ordered[i + 1:] if s2 != stage), None)
            if nxt is not None:
                out[stage] = max(nxt - t, dt.timedelta(0))
        return out


def histories(events: Iterable[Any]) -> dict[str, History]:
    """Every deal's history from the event log's deal events (in the order stored)."""
    out: dict[str, History] = defaultdict(History)
    for ev in events:
        if isinstance(ev, DealEvent):
            out[ev.deal_id].add(ev)
    return dict(out)


def stage_order(hist: Iterable[History]) -> list[str]:
    """Stages by the first time any deal was seen in them, ties by name."""
    first: dict[str, dt.datetime] = {}
    for h in hist:
        for stage, _, t in h.versions.values():
            if stage not in first or t < first[stage]:
                first[stage] = t
    return sorted(first, key=lambda s: (first[s], s))


def _group(grouping: str, deal: DealEvent, dims: Dimensions) -> str | None:
    g = "manager" if grouping == "team" else grouping
    return dims.group_key(g, (deal.owner, deal.product or "", deal.account or "", ""))


def _seconds(td: dt.timedelta) -> Decimal:
    return Decimal(td.days * 86400 + td.seconds) + Decimal(td.microseconds).scaleb(-6)


def _median(days: list[int]) -> Decimal | None:
    if not days:
        return None
    s = sorted(days)
    mid = len(s) // 2
    return Decimal(s[mid]) if len(s) % 2 else (Decimal(s[mid - 1]) + Decimal(s[mid])) / 2


def _stages(group: list[History], order: Sequence[str]) -> list[dict[str, Any]]:
    reached: dict[str, int] = defaultdict(int)
    time: dict[str, list[dt.timedelta]] = defaultdict(list)
    for h in group:
        for stage in {s for s, _, _ in h.versions.values()}:
            reached[stage] += 1
        for stage, td in h.stays().items():
            time[stage].append(td)
    rows = []
    for i, stage in enumerate(order):
        nxt = order[i + 1] if i + 1 < len(order) else None
        stays = time.get(stage, [])
        rows.append({
            "stage": stage, "reached": reached.get(stage, 0),
            "next_stage": nxt,
            "conversion": (None if nxt is None or not reached.get(stage)
                           else quantize(Decimal(reached.get(nxt, 0)) / reached[stage], 4)),
            "mean_days": (None if not stays else
                          quantize(sum((_seconds(t) for t in stays), Decimal(0)) / DAY / len(stays), 2)),
            "median_days": _median([t.days for t in stays]),
            "measured": len(stays),
        })
    return rows


def bottleneck(stages: list[dict[str, Any]]) -> str | None:
    """The stage with the lowest conversion, ties by the longest mean days, then the earlier."""
    rated = [(i, s) for i, s in enumerate(stages) if s["conversion"] is not None]
    if not rated:
        return None
    best = min(rated, key=lambda t: (t[1]["conversion"], -(t[1]["mean_days"] or 0), t[0]))
    return str(best[1]["stage"])


def funnel(events: Iterable[Any], dims: Dimensions, grouping: str = "all",
           period: Period | None = None, stages: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Funnel rows per group: deals, every stage's reached / conversion / days, the bottleneck.

    Deleted deals (latest version ``deleted``) leave the funnel, as they leave every KPI."""
    if grouping not in GROUPINGS:
        raise ValueError(f"unknown grouping {grouping!r}; choose one of {', '.join(GROUPINGS)}")
    hist = histories(events)
    order = list(stages) if stages else stage_order(hist.values())
    groups: dict[str | None, list[History]] = defaultdict(list)
    for h in hist.values():
        assert h.latest is not None
        if h.latest.status == "deleted":
            continue
        if period is not None and not period.contains(h.entered().date()):
            continue
        groups[_group(grouping, h.latest, dims)].append(h)
    rows = []
    for key in sorted(groups, key=lambda k: (k is None, k or "")):
        st = _stages(groups[key], order)
        rows.append({"key": key, "deals": len(groups[key]), "stages": st, "bottleneck": bottleneck(st)})
    return rows


__all__ = ["GROUPINGS", "History", "bottleneck", "funnel", "histories", "stage_order"]
