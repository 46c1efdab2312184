"""The weighted pipeline: each open deal × the probability of winning from its current stage.

* **Stage probability** (learned, never typed in): among the deals that were *in* a stage and
  have closed since, the share that was won — ``won / (won + lost)`` over closed deals whose
  versions passed through the stage. Per group (team, product, …) when the group has at least
  ``min_sample`` such deals, else the pooled (company) figure; the sample size is always shown.
  A closed deal's final stage (Won, Lost) is not a stage it was *in* while open.
* **Expected close day** of an open deal: from the historical time to close from its stage
  (days from entering the stage to ``closed_on``), conditioned on how long the deal has been in
  the stage already: entry day + the median of the historical times at least as long as its
  age. A deal older than every historical time is overdue and expected the day after the data
  ends. Never before the day after the data ends.
* **Amount**: the deal's own; an open deal without one (CRMs often leave it empty until the
  close) is valued at the average won amount of its product (the company average if the product
  has no won deal), and counted as ``estimated``.

``cutoff`` learns only from what was known at the end of that day (for the backtest).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from attain.core import quantize

from .history import Deal, History

ZERO = Decimal(0)
MIN_SAMPLE = 30


@dataclass(frozen=True)
class StageStat:
    stage: str
    group: str
    deals: int
    won: int
    #: days from entering the stage to the close, sorted
    days: tuple[int, ...]

    @property
    def probability(self) -> Decimal | None:
        return Decimal(self.won) / Decimal(self.deals) if self.deals else None


@dataclass
class Learned:
    grouping: str
    min_sample: int
    pooled: dict[str, StageStat]
    grouped: dict[tuple[str, str], StageStat]

    def stat(self, stage: str, group: str) -> tuple[StageStat | None, str]:
        """The statistic used for ``stage`` in ``group`` and its basis (the group or pooled)."""
        g = self.grouped.get((stage, group))
        if g is not None and g.deals >= self.min_sample and self.grouping != "company":
            return g, self.grouping
        return self.pooled.get(stage), "pooled"


def _closed_by(deal: Deal, cutoff: dt.date | None) -> bool:
    return deal.status in ("won", "lost") and deal.closed_on is not None and (
        cutoff is None or deal.closed_on <= cutoff)


def _stat(stage: str, group: str, items: list[tuple[bool, int]]) -> StageStat:
    return StageStat(stage, group, len(items), sum(1 for won, _ in items if won),
                     tuple(sorted(d for _, d in items)))


def learn(history: History, grouping: str = "company", min_sample: int = MIN_SAMPLE,
          cutoff: dt.date | None = None) -> Learned:
    """Stage win probabilities and times to close from the deals closed (by ``cutoff``)."""
    pooled: dict[str, list[tuple[bool, int]]] = defaultdict(list)
    grouped: dict[tuple[str, str], list[tuple[bool, int]]] = defaultdict(list)
    for deal in history.deals:
        if not _closed_by(deal, cutoff):
            continue
        assert deal.closed_on is not None
        group = history.group_of(deal, grouping)
        for stage, day in deal.entered.items():
            if stage == deal.stage or day > deal.closed_on:
                continue
            item = (deal.status == "won", (deal.closed_on - day).days)
            pooled[stage].append(item)
            grouped[(stage, group)].append(item)
    return Learned(grouping, min_sample,
                   {s: _stat(s, "company", v) for s, v in pooled.items()},
                   {k: _stat(k[0], k[1], v) for k, v in grouped.items()})


def probability_rows(learned: Learned) -> list[dict[str, Any]]:
    """One row per stage (and group): sample size, won, probability, median days to close."""
    rows = []
    stats = list(learned.pooled.values())
    if learned.grouping != "company":
        stats += sorted(learned.grouped.values(), key=lambda s: (s.stage, s.group))
    for s in stats:
        used = s.group == "company" or s.deals >= learned.min_sample
        rows.append({"stage": s.stage, "group": s.group, "deals": s.deals, "won": s.won,
                     "probability": quantize(s.probability, 4) if s.probability is not None else None,
                     "median_days_to_close": statistics.median(s.days) if s.days else None,
                     "used": used})
    return rows


def expected_close(entered: dt.date, days: tuple[int, ...], as_of: dt.date) -> tuple[dt.date, bool]:
    """(expected close day, overdue) for a deal in a stage since ``entered``, as of ``as_of``."""
    age = (as_of - entered).days
    later = [d for d in days if d >= age]
    floor = as_of + dt.timedelta(days=1)
    if not later:
        return floor, True
    day = entered + dt.timedelta(days=int(statistics.median_low(later)))
    return max(day, floor), False


def open_at(deal: Deal, cutoff: dt.date | None) -> str | None:
    """The deal's open stage at the end of ``cutoff`` (its current one when None); None when it
    was not open then."""
    if cutoff is None:
        return deal.stage if deal.status == "open" else None
    if deal.closed_on is not None and deal.status in ("won", "lost") and deal.closed_on <= cutoff:
        return None
    stage = deal.stage_on(cutoff)
    if stage is None or (deal.status in ("won", "lost") and stage == deal.stage):
        return None
    return stage


def average_won(history: History, cutoff: dt.date | None) -> tuple[dict[str | None, Decimal], Decimal]:
    """Average won amount per product and for the company (deals closed by ``cutoff``)."""
    sums: dict[str | None, list[Decimal]] = defaultdict(list)
    every: list[Decimal] = []
    for d in history.won():
        if cutoff is None or (d.closed_on is not None and d.closed_on <= cutoff):
            assert d.amount is not None
            sums[d.product].append(d.amount)
            every.append(d.amount)
    avg = {p: sum(v, ZERO) / len(v) for p, v in sums.items()}
    return avg, (sum(every, ZERO) / len(every) if every else ZERO)


def weighted(history: History, learned: Learned, cutoff: dt.date | None = None
             ) -> list[dict[str, Any]]:
    """Every deal open (at the end of ``cutoff``, or now) with its weighted value."""
    as_of = cutoff or history.as_of
    by_product, company_avg = average_won(history, cutoff)
    rows = []
    for deal in history.deals:
        stage = open_at(deal, cutoff)
        if stage is None:
            continue
        group = history.group_of(deal, learned.grouping)
        stat, basis = learned.stat(stage, group)
        estimated = deal.amount is None or deal.status != "open"
        amount = (by_product.get(deal.product, company_avg) if estimated else deal.amount)
        assert amount is not None
        p = stat.probability if stat is not None else None
        entered = deal.entered.get(stage, as_of)
        close, overdue = expected_close(entered, stat.days if stat else (), as_of)
        rows.append({"deal": deal.deal_id, "owner": deal.owner, "group": group, "stage": stage,
                     "amount": quantize(amount, 2), "estimated": estimated,
                     "probability": quantize(p, 4) if p is not None else None,
                     "basis": basis, "sample": stat.deals if stat else 0,
                     "weighted": quantize(amount * p, 2) if p is not None else ZERO,
                     "expected_close": close, "overdue": overdue})
    rows.sort(key=lambda r: (r["expected_close"], r["deal"]))
    return rows
