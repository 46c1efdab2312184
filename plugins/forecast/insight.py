"""Insight from the deal history: performers against their peers, each team's bottleneck stage,
and account segments (the ideal customer profile).

* **Performers** per metric — win rate, average deal size, cycle days, velocity (won revenue per
  day of cycle: revenue ÷ average cycle days), and logged activities when there are any — over
  the reps' closed deals. A rep with fewer
  than ``min_deals`` closed deals is not ranked (listed as ``too_few``). For the win rate the
  small-sample guard is also a 95 % Wilson interval: a rep is *above* peers only when the
  interval's lower bound is above the company rate, *below* only when its upper bound is under
  it; the other metrics rank the eligible reps and flag the top and bottom ``top`` of them.
* **Bottleneck**: per team, the conversion of each funnel step (Prospecting → Engaging: the
  share of deals that left Prospecting for Engaging rather than closing; Engaging → Won:
  won ÷ closed among engaged deals); the team's bottleneck is the step furthest below the
  company's conversion (none when the team is at or above it at every step).
* **Segments**: won revenue, deals, win rate, average deal size and cycle days per account
  sector (accounts.csv's ``sector``); the ICP is the segment ranking best on win rate, size and
  speed together (the mean of its ranks).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from decimal import Decimal
from typing import Any

from attain.core import ActivityEvent, Engine, quantize

from .history import Deal, History

ZERO = Decimal(0)
MIN_DEALS = 20
Z95 = 1.959963984540054
FUNNEL = (("Prospecting", "Engaging"), ("Engaging", "Won"))


def wilson(won: int, n: int) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = won / n
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return centre - half, centre + half


def stats(deals: list[Deal]) -> dict[str, Any]:
    """Closed and won deals, revenue, win rate, average deal size, cycle days and velocity."""
    closed = [d for d in deals if d.status in ("won", "lost") and d.closed_on]
    won = [d for d in closed if d.status == "won" and d.amount is not None]
    revenue = sum((d.amount for d in won if d.amount is not None), ZERO)
    cycles = [(d.closed_on - d.engaged_on).days for d in won if d.closed_on and d.engaged_on]
    cycle = Decimal(statistics.mean(cycles)) if cycles else None
    return {"closed": len(closed), "won": len(won), "revenue": revenue,
            "win_rate": quantize(Decimal(len(won)) / len(closed), 4) if closed else None,
            "avg_deal_size": quantize(revenue / len(won), 2) if won else None,
            "cycle_days": quantize(cycle, 1) if cycle is not None else None,
            "velocity": quantize(revenue / cycle, 2) if cycle else None}


def performers(h: History, min_deals: int = MIN_DEALS, top: int = 3,
               activities: dict[str, int] | None = None) -> dict[str, Any]:
    """``activities``: logged activities per rep (calls, emails, meetings, demos); the
    ``activities`` metric is ranked when any rep has one."""
    by_rep: dict[str, list[Deal]] = defaultdict(list)
    for d in h.deals:
        by_rep[d.owner].append(d)
    company = stats(h.deals)
    reps = {r: stats(ds) for r, ds in sorted(by_rep.items())}
    if activities:
        for r, s in reps.items():
            s["activities"] = activities.get(r, 0)
        company["activities"] = quantize(Decimal(sum(activities.values())) / len(reps), 1)
    eligible = {r: s for r, s in reps.items() if s["closed"] >= min_deals}
    out: dict[str, Any] = {"min_deals": min_deals, "company": company,
                           "too_few": sorted(r for r in reps if r not in eligible), "metrics": {}}
    rate = float(company["win_rate"] or 0)
    above, below = [], []
    for r, s in eligible.items():
        lo, hi = wilson(s["won"], s["closed"])
        row = {"rep": r, "value": s["win_rate"], "deals": s["closed"],
               "low": round(lo, 4), "high": round(hi, 4)}
        if lo > rate:
            above.append(row)
        elif hi < rate:
            below.append(row)
    out["metrics"]["win_rate"] = {"top": sorted(above, key=lambda x: -x["low"]),
                                  "under": sorted(below, key=lambda x: x["high"])}
    metrics = [("avg_deal_size", True), ("cycle_days", False), ("velocity", True)]
    if activities:
        metrics.append(("activities", True))
    for metric, higher_better in metrics:
        ranked = sorted(((s[metric], r, s["closed"]) for r, s in eligible.items()
                         if s[metric] is not None), reverse=higher_better)
        rows = [{"rep": r, "value": v, "deals": n} for v, r, n in ranked]
        out["metrics"][metric] = {"company": company[metric], "top": rows[:top],
                                  "under": list(reversed(rows[-top:])) if len(rows) > top else []}
    return out


def _conversions(deals: list[Deal]) -> dict[str, Decimal | None]:
    left_prospecting = [d for d in deals if "Prospecting" in d.entered and (
        d.stage != "Prospecting")]
    engaged = [d for d in left_prospecting if "Engaging" in d.entered]
    closed_engaged = [d for d in engaged if d.status in ("won", "lost")]
    won = [d for d in closed_engaged if d.status == "won"]
    return {
        "Prospecting → Engaging": (quantize(Decimal(len(engaged)) / len(left_prospecting), 4)
                                   if left_prospecting else None),
        "Engaging → Won": (quantize(Decimal(len(won)) / len(closed_engaged), 4)
                           if closed_engaged else None),
    }


def bottlenecks(h: History) -> dict[str, Any]:
    company = _conversions(h.deals)
    by_team: dict[str, list[Deal]] = defaultdict(list)
    for d in h.deals:
        by_team[h.group_of(d, "team")].append(d)
    teams = []
    for team, deals in sorted(by_team.items()):
        conv = _conversions(deals)
        gaps = {step: v - c for step, v in conv.items()
                if v is not None and (c := company[step]) is not None}
        worst = min(gaps, key=lambda s: gaps[s]) if gaps else None
        if worst is not None and gaps[worst] >= 0:
            worst = None  # at or above the company at every step
        teams.append({"team": team, "deals": len(deals), **conv, "bottleneck": worst,
                      "gap": gaps.get(worst) if worst else None})
    return {"company": company, "teams": teams}


def segments(h: History) -> dict[str, Any]:
    by_sector: dict[str, list[Deal]] = defaultdict(list)
    for d in h.deals:
        acc = h.dims.accounts.get(d.account or "")
        by_sector[(acc.sector if acc and acc.sector else None) or "(no sector)"].append(d)
    rows = [{"segment": s, **st} for s, ds in sorted(by_sector.items())
            if (st := stats(ds))["closed"]]
    scored = [r for r in rows if r["win_rate"] is not None and r["avg_deal_size"] is not None
              and r["cycle_days"] is not None]

    def ranks(key: str, reverse: bool) -> dict[str, int]:
        order = sorted(scored, key=lambda r: r[key], reverse=reverse)
        return {r["segment"]: i + 1 for i, r in enumerate(order)}

    rw, rs, rc = ranks("win_rate", True), ranks("avg_deal_size", True), ranks("cycle_days", False)
    for r in rows:
        r["score"] = (round((rw[r["segment"]] + rs[r["segment"]] + rc[r["segment"]]) / 3, 2)
                      if r["segment"] in rw else None)
    best = min(scored, key=lambda r: (r["score"], r["segment"]))["segment"] if scored else None
    return {"segments": rows, "icp": best,
            "most_revenue": max(rows, key=lambda r: r["revenue"])["segment"] if rows else None}


def activity_counts(engine: Engine, tenant: str) -> dict[str, int]:
    """Logged activities (calls, emails, meetings, demos) per rep."""
    out: dict[str, int] = defaultdict(int)
    for ev in engine.facts(tenant):
        if isinstance(ev, ActivityEvent):
            out[ev.owner] += 1
    return dict(out)
