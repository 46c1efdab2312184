"""Independent figures for the goals tests, in plain Python over the bundled CSV (no plugin code):
KPIs of an owner over a period, a goal's progress row (pace, projections, status), exact
largest-remainder splits and the whole quota plan of ``attain plan quotas``."""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Callable, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from goals.goals_helpers import CsvData, CsvDeal

D = Decimal
BIG_DEAL = D(5000)  # the example plugin's big_deal_count: won deals of at least 5,000


def round_half_even(x: Fraction | Decimal, places: int) -> Decimal:
    """Exact half-even rounding of a rational number (no Decimal context involved)."""
    f = Fraction(x) * 10 ** places
    floor = f.numerator // f.denominator
    rest = f - floor
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and floor % 2 == 1):
        floor += 1
    return D(floor).scaleb(-places)


def reps_of(csv: CsvData, owner: str) -> set[str] | None:
    """The reps an owner (company / region:R / manager:M / rep:X) stands for; None = all."""
    if owner == "company":
        return None
    kind, name = owner.split(":", 1)
    return {name} if kind == "rep" else csv.reps_of(kind, name)


def closed_in(csv: CsvData, start: dt.date, end: dt.date, reps: set[str] | None,
              stage: str | None = None) -> list[CsvDeal]:
    return [d for d in csv.deals if d.closed is not None and start <= d.closed <= end
            and (reps is None or d.rep in reps) and (stage is None or d.stage == stage)]


def kpi(csv: CsvData, metric: str, start: dt.date, end: dt.date, reps: set[str] | None
        ) -> Decimal | None:
    """A KPI of the deals closed in [start, end] (an outcome goal's attribution)."""
    won = closed_in(csv, start, end, reps, "Won")
    if metric == "won_revenue":
        return sum((d.value or D(0) for d in won), D(0))
    if metric == "won_deals":
        return D(len(won))
    if metric == "big_deal_count":
        return D(sum(1 for d in won if (d.value or 0) >= BIG_DEAL))
    if metric == "win_rate":
        closed = [d for d in closed_in(csv, start, end, reps) if d.stage in ("Won", "Lost")]
        return round_half_even(Fraction(len(won), len(closed)), 4) if closed else None
    if metric == "avg_cycle_days":
        days = [(d.closed - d.engaged).days for d in won if d.closed and d.engaged]
        return round_half_even(Fraction(sum(days), len(days)), 2) if days else None
    if metric == "avg_deal_size":
        if not won:
            return None
        return round_half_even(Fraction(sum((d.value or D(0) for d in won), D(0))) / len(won), 2)
    raise ValueError(metric)


def progress(csv: CsvData, metric: str, owner: str, start: dt.date, end: dt.date,
             target: Decimal, as_of: dt.date) -> dict[str, Any]:
    """The figures of an ``up`` goal on a cumulative KPI with linear pacing and the default
    thresholds (on_track ≥ 0.95, at_risk ≥ 0.80; docs/goals.md)."""
    on_track, at_risk = D("0.95"), D("0.80")
    reps = reps_of(csv, owner)
    days = (end - start).days + 1
    elapsed = 0 if as_of < start else (min(as_of, end) - start).days + 1
    actual = kpi(csv, metric, start, min(as_of, end), reps) if elapsed else D(0)
    assert actual is not None
    pace = Fraction(elapsed, days)
    attainment = Fraction(actual) / Fraction(target)
    trailing = kpi(csv, metric, as_of - dt.timedelta(days=89), as_of, reps)
    assert trailing is not None
    run_rate = (Fraction(actual) + Fraction(trailing) * (days - elapsed) / 90
                if as_of < end else Fraction(actual))
    places = 2
    if not elapsed:
        status = "not_started"
    else:
        score = attainment / pace
        status = ("on_track" if score >= on_track else
                  "at_risk" if score >= at_risk else "off_track")
    return {"actual": actual, "attainment": round_half_even(attainment, 4),
            "expected_attainment": round_half_even(pace, 4),
            "projection": (round_half_even(Fraction(actual) * days / elapsed, places)
                           if elapsed else None),
            "projection_run_rate": round_half_even(run_rate, places), "status": status,
            "elapsed_days": elapsed, "period_days": days}


def largest_remainder(total: Decimal, weights: Sequence[Fraction], quantum: Decimal
                      ) -> list[Decimal]:
    """Whole quanta: the floor of each exact share, then one quantum each to the largest
    remainders (ties: the larger weight, then the earlier part)."""
    units = Fraction(total) / Fraction(quantum)
    assert units.denominator == 1
    wsum = sum(weights, Fraction(0))
    exact = [units * w / wsum for w in weights]
    floors = [e.numerator // e.denominator for e in exact]
    order = sorted(range(len(weights)), key=lambda i: (floors[i] - exact[i], -weights[i], i))
    for i in order[:int(units) - sum(floors)]:
        floors[i] += 1
    return [D(f) * quantum for f in floors]


def ramp_capacity(year: int, ramp_months: int) -> Fraction:
    """A new rep from 1 January: month k of the ramp at k/(R+1), then 1, weighted by days."""
    days_in = [(dt.date(year + (m == 12), m % 12 + 1, 1) - dt.date(year, m, 1)).days
               for m in range(1, 13)]
    total = sum((Fraction(min(m, ramp_months + 1), ramp_months + 1) * n
                 for m, n in enumerate(days_in, start=1)), Fraction(0))
    return total / sum(days_in)


def quota_plan(csv: CsvData, year: int, growth: Decimal, ramp_months: int = 3,
               match_target: bool = False) -> dict[str, Any]:
    """``attain plan quotas`` computed from the CSV (docs/goals.md, Quota planning)."""
    base = (dt.date(year - 1, 1, 1), dt.date(year - 1, 12, 31))
    g1 = 1 + growth
    with_deals = {d.rep for d in csv.deals}
    reps = sorted(set(csv.teams) | with_deals)
    own = {r: kpi(csv, "won_revenue", *base, {r}) or D(0) for r in reps}
    existing = [r for r in reps if r in with_deals]

    def team(r: str) -> set[str]:
        return {p for p in existing if csv.teams.get(p, (None,))[0] == csv.teams[r][0]}

    def rate_and_size(members: set[str] | None) -> tuple[Decimal | None, Decimal | None]:
        return kpi(csv, "win_rate", *base, members), kpi(csv, "avg_deal_size", *base, members)

    rows, weights = [], []
    cap_new = ramp_capacity(year, ramp_months) if ramp_months > 0 else Fraction(1)
    for r in reps:
        new = r not in with_deals
        if new:
            peers = team(r)
            productivity = D(statistics.median(own[p] for p in peers)) if peers else \
                D(statistics.median(own[p] for p in existing))
            win, size = rate_and_size(peers or None)
        else:
            productivity = own[r]
            win, size = rate_and_size({r})
        cap = cap_new if new else Fraction(1)
        weights.append(Fraction(productivity) * cap)
        rows.append({"rep": r, "manager": csv.teams[r][0], "region": csv.teams[r][1],
                     "new": new, "capacity": round_half_even(cap, 4), "base_actual": own[r],
                     "productivity": productivity, "win_rate": win, "avg_deal_size": size})
    base_total = kpi(csv, "won_revenue", *base, None)
    assert base_total is not None
    target = round_half_even(Fraction(base_total) * Fraction(g1), 2)
    capacity_quota = round_half_even(sum(weights, Fraction(0)) * Fraction(g1), 2)
    quotas = largest_remainder(target if match_target else capacity_quota, weights, D("0.01"))
    for row, q in zip(rows, quotas, strict=True):
        win, size = row["win_rate"], row["avg_deal_size"]
        row["quota"] = q
        row["pipeline_needed"] = round_half_even(Fraction(q) / Fraction(win), 2) if win else None
        row["deals_needed"] = (round_half_even(Fraction(q) / Fraction(size) / Fraction(win), 0)
                               if win and size else None)
    total = sum(quotas, D(0))

    def roll(key: Callable[[dict[str, Any]], Any],
             head: Callable[[dict[str, Any]], dict[str, Any]]) -> list[dict[str, Any]]:
        """Team / region sums of the reps' rows, sorted by key."""
        out: dict[Any, dict[str, Any]] = {}
        for row in rows:
            acc = out.setdefault(key(row), {**head(row), "reps": 0, "new_reps": 0,
                                            "base_actual": D(0), "quota": D(0)})
            acc["reps"] += 1
            acc["new_reps"] += int(row["new"])
            acc["base_actual"] += row["base_actual"]
            acc["quota"] += row["quota"]
        return [out[k] for k in sorted(out)]

    return {"year": year, "base_year": str(year - 1), "target": target,
            "base_actual": base_total, "capacity_quota": capacity_quota, "quota_total": total,
            "gap": target - total, "coverage": round_half_even(Fraction(total) / Fraction(target), 4),
            "method": "match-target" if match_target else "capacity",
            "reps": sorted(rows, key=lambda r: (r["region"], r["manager"], r["rep"])),
            "teams": roll(lambda r: (r["region"], r["manager"]),
                          lambda r: {"manager": r["manager"], "region": r["region"]}),
            "regions": roll(lambda r: r["region"], lambda r: {"region": r["region"]})}
