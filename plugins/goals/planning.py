"""Quota planning: ``attain plan quotas --year 2018 --growth 10%``.

The model (all exact Decimal / Fraction, quotas in cents):

* **target** = the company's ``won_revenue`` in the base year (the year before) × (1 + growth).
* **productivity** of a rep = the rep's ``won_revenue`` in the base year. A *new rep* is a roster
  rep who owns no deal at all; their productivity is their team's median (the manager's existing
  reps; the company median when the team has none).
* **capacity** = 1 for existing reps; new reps ramp linearly over ``ramp_months`` from 1 January
  (month k at k/(R+1)), then 1 — averaged over the year by days. A rep with rep lifecycle
  events (``hired``/``left``) ramps from their real hire month instead, whether or not they own
  deals, and a rep who has left has capacity 0 (:mod:`.ramp`); each rep row shows its
  ``start`` and ``ramp_status``.
* **quota** of a rep = (1 + growth) × productivity × capacity, allocated in cents with the
  largest-remainder method from the capacity-weighted total, so team (manager), region and
  company quotas are the exact sums of their reps' quotas.
* **capacity gap** = target − Σ quotas: > 0 means the quotas do not cover the target (hire or
  raise productivity), < 0 means they over-cover it. ``--match-target`` instead spreads exactly
  the target by the same weights (gap 0).
* **win rates** (base year; team rate for new reps) turn each quota into the value of closed
  opportunities it needs (quota ÷ win rate) and the number of deals to close
  (quota ÷ average deal size ÷ win rate).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from decimal import Decimal
from fractions import Fraction
from typing import Any

from attain.core import Engine, Period
from attain.core.kpi import quantize

from .allocation import CENT, allocate
from .cascade import rep_capacity
from .model import GoalError, Owner, members
from .periods import parse_period
from .ramp import Ramp, ramps
from .service import GoalService

ZERO = Decimal(0)


def _dec(v: object) -> Decimal | None:
    return v if isinstance(v, Decimal) else None


def _check_request(svc: GoalService, growth: Decimal, ramp_months: int, metric: str) -> None:
    if growth <= -1:
        raise GoalError(None, [f"growth {growth} would make the target 0 or less"])
    if ramp_months < 0:
        raise GoalError(None, ["ramp months must be 0 or more"])
    if metric not in svc.metrics():
        raise GoalError(None, [f"unknown metric {metric!r}; registered KPIs: "
                               + ", ".join(sorted(svc.metrics()))])
    if svc.metrics()[metric].unit != "money":
        raise GoalError(None, [f"quotas are planned on a money KPI; {metric} is "
                               f"{svc.metrics()[metric].unit}"])


def _roll_up(rows: list[dict[str, Any]]) -> tuple[dict[tuple[str | None, str | None], dict[str, Any]],
                                                  dict[str | None, dict[str, Any]]]:
    """Per team (manager, region) and per region: reps, new reps, base actual and quota."""
    teams: dict[tuple[str | None, str | None], dict[str, Any]] = {}
    regions: dict[str | None, dict[str, Any]] = {}
    for row in rows:
        t = teams.setdefault((row["manager"], row["region"]), {
            "manager": row["manager"], "region": row["region"], "reps": 0, "new_reps": 0,
            "base_actual": ZERO, "quota": ZERO})
        rg = regions.setdefault(row["region"], {"region": row["region"], "reps": 0,
                                                "new_reps": 0, "base_actual": ZERO,
                                                "quota": ZERO})
        for acc in (t, rg):
            acc["reps"] += 1
            acc["new_reps"] += int(row["new"])
            acc["base_actual"] += row["base_actual"]
            acc["quota"] += row["quota"]
    return teams, regions


def _notes(rows: list[dict[str, Any]], unrostered: list[str], ramp_months: int,
           start: Any) -> list[str]:
    notes = ["new reps (on the roster, no deal at all): "
             + (", ".join(r["rep"] for r in rows if r["new"]) or "none"),
             f"new reps ramp over {ramp_months} month(s) from {start}: month k at "
             f"k/{ramp_months + 1}, then full capacity"]
    dated = [r for r in rows if r["start"] is not None or r["ramp_status"] == "left"]
    if dated:
        notes.append(f"start dates from rep events for {len(dated)} rep(s): they ramp over "
                     f"{ramp_months} month(s) from their hire month; left (no quota): "
                     + (", ".join(r["rep"] for r in dated if r["ramp_status"] == "left") or "none"))
    if unrostered:
        notes.append("deal owners missing from the roster (no team/region): "
                     + ", ".join(unrostered))
    return notes


def _capacity(rep: str, new: bool, ramp: Ramp | None, plan_year: Period, ramp_months: int
              ) -> tuple[Fraction, dt.date | None, str]:
    """A rep's capacity, start and ramp status: from their rep events (``ramp``), else new reps
    ramp from the plan's first day and the others are at full capacity."""
    if ramp is not None:
        return ramp.capacity, ramp.start, ramp.status
    cap = rep_capacity(rep, plan_year, plan_year.start, ramp_months, new)
    return cap, None, f"ramping: month 1 of {ramp_months}" if new and ramp_months else "ramped"


def plan_quotas(engine: Engine, tenant: str, year: int, growth: Decimal, ramp_months: int = 3,
                metric: str = "won_revenue", match_target: bool = False) -> dict[str, Any]:
    svc = GoalService(engine, tenant)
    _check_request(svc, growth, ramp_months, metric)
    plan_year = parse_period(str(year))
    base = plan_year.shift_years(-1)
    company = Owner("company")
    base_total = svc.actual_of(metric, company, base, "outcome") or ZERO
    if base_total <= 0:
        raise GoalError(None, [f"no {metric} in {base} to plan {year} from (the data has deals "
                               f"closed {svc.first_day('outcome')} onwards)"])
    dims = svc.dims()
    owners_with_deals = svc.deal_owners()
    reps = members(company, dims, owners_with_deals)
    by_rep = svc.grouped(metric, company, base, "outcome", "rep")
    win_rep = svc.grouped("win_rate", company, base, "outcome", "rep")
    size_rep = svc.grouped("avg_deal_size", company, base, "outcome", "rep")
    win_team = svc.grouped("win_rate", company, base, "outcome", "manager")
    size_team = svc.grouped("avg_deal_size", company, base, "outcome", "manager")
    win_all = svc.actual_of("win_rate", company, base, "outcome")
    size_all = svc.actual_of("avg_deal_size", company, base, "outcome")

    def team_of(rep: str) -> tuple[str | None, str | None]:
        r = dims.reps.get(rep)
        return (r.manager, r.region) if r else (None, None)

    existing = {r: max(_dec(by_rep.get(r)) or ZERO, ZERO) for r in reps if r in owners_with_deals}
    team_prod: dict[str | None, list[Decimal]] = defaultdict(list)
    for r, v in existing.items():
        team_prod[team_of(r)[0]].append(v)
    company_median = Decimal(statistics.median(existing.values())) if existing else ZERO
    started = ramps(engine.events(tenant, types=["rep"]), plan_year, ramp_months)
    g1 = 1 + growth
    rows: list[dict[str, Any]] = []
    weights: list[Fraction] = []
    for r in reps:
        manager, region = team_of(r)
        new = r not in owners_with_deals
        if new:
            peers = team_prod.get(manager)
            productivity = Decimal(statistics.median(peers)) if peers else company_median
            basis = (f"median of {manager}'s team" if peers else "company median")
            win = _dec(win_team.get(manager)) or win_all
            size = _dec(size_team.get(manager)) or size_all
        else:
            productivity = existing[r]
            basis = f"own {metric} {base}"
            win = _dec(win_rep.get(r))
            size = _dec(size_rep.get(r))
        cap, start, status = _capacity(r, new, started.get(r), plan_year, ramp_months)
        weights.append(Fraction(productivity) * cap)
        rows.append({"rep": r, "manager": manager, "region": region, "new": new,
                     "start": start, "ramp_status": status,
                     "capacity": quantize(Decimal(cap.numerator) / Decimal(cap.denominator), 4),
                     "base_actual": _dec(by_rep.get(r)) or ZERO, "productivity": productivity,
                     "productivity_basis": basis, "win_rate": win, "avg_deal_size": size})
    target = quantize(base_total * g1, 2)
    assert target is not None
    capacity_total = sum(weights, Fraction(0)) * Fraction(g1)
    capacity_quota = quantize(Decimal(capacity_total.numerator) / Decimal(capacity_total.denominator), 2)
    assert capacity_quota is not None
    total = target if match_target else capacity_quota
    quotas = allocate(total, weights, CENT)
    for row, q in zip(rows, quotas, strict=True):
        row["quota"] = q
        win = row["win_rate"]
        size = row["avg_deal_size"]
        row["pipeline_needed"] = quantize(q / win, 2) if win else None
        row["deals_needed"] = (quantize(q / size / win, 0) if win and size else None)
    teams, regions = _roll_up(rows)
    quota_sum = sum((r["quota"] for r in rows), ZERO)
    gap = target - quota_sum
    notes = _notes(rows, [r for r in reps if r not in dims.reps], ramp_months, plan_year.start)
    return {
        "year": year, "base_year": base.label, "metric": metric, "growth": growth,
        "ramp_months": ramp_months, "method": "match-target" if match_target else "capacity",
        "base_actual": base_total, "target": target,
        "quota_total": quota_sum, "capacity_quota": capacity_quota, "gap": gap,
        "coverage": quantize(quota_sum / target, 4),
        "company": {"reps": len(rows), "new_reps": sum(int(r["new"]) for r in rows),
                    "base_actual": base_total, "quota": quota_sum,
                    "win_rate": win_all, "avg_deal_size": size_all},
        "regions": sorted(regions.values(), key=lambda r: str(r["region"] or "")),
        "teams": sorted(teams.values(), key=lambda t: (str(t["region"] or ""),
                                                        str(t["manager"] or ""))),
        "reps": sorted(rows, key=lambda r: (str(r["region"] or ""), str(r["manager"] or ""),
                                            r["rep"])),
        "notes": notes,
    }
