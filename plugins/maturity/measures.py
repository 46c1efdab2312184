"""The bundled measured criteria: each a pure function of the tenant's data as of a day
(:class:`~attain.plugins.maturity.data.TenantData`) returning a
:class:`~attain.plugins.maturity.model.Measurement` with the numbers it used."""

from __future__ import annotations

from decimal import Decimal

from attain.core import DealEvent, kpi_rows, quantize, utc_day
from attain.core.output import money

from .data import TenantData, activity_kinds
from .model import Measurement

ZERO = Decimal(0)
#: "most": more than half
MOST = Decimal("0.5")
ADOPTION_DAYS = 90
MIN_STAGES = 3
COACHING_HOURS_PER_REP = Decimal(2)
MARKETING_BENCHMARK = Decimal("0.30")
FUNNEL = ("created", "mql", "sal", "sql", "converted")


def ratio(num: int | Decimal, den: int | Decimal) -> Decimal | None:
    return None if not den else quantize(Decimal(num) / Decimal(den), 4)


def pct(share: Decimal | None) -> str:
    return "–" if share is None else f"{(share * 100).quantize(Decimal('0.1'))} %"


def n(x: int | Decimal) -> str:
    return f"{x:,}"


def _no_deals(what: str) -> Measurement:
    return Measurement(False, None, f"no deals recorded: {what} cannot be measured",
                       {"deals": 0}, f"record your deals in the CRM to measure {what}")


# -- level 2 -------------------------------------------------------------------------------------


def crm_deals(data: TenantData) -> Measurement:
    deals = len(data.deals)
    owners = len({d.owner for d in data.deals.values()})
    if not deals:
        return Measurement(False, 0, "no deal is recorded in the CRM", {"deals": 0, "owners": 0},
                           "record every deal in the CRM: none is recorded today")
    return Measurement(True, deals, f"{n(deals)} deals recorded, owned by {n(owners)} reps",
                       {"deals": deals, "owners": owners})


def sales_stages(data: TenantData) -> Measurement:
    stages = sorted(data.stages)
    nums = {"stages": len(stages), "names": stages[:20], "minimum": MIN_STAGES}
    met = len(stages) >= MIN_STAGES
    detail = f"deals use {len(stages)} stage(s)" + (f": {', '.join(stages[:8])}" if stages else "")
    rec = None if met else (f"define a sales process of at least {MIN_STAGES} stages and record "
                            f"each deal's stage: deals use {len(stages)} today")
    return Measurement(met, len(stages), detail, nums, rec)


def basic_kpis(data: TenantData) -> Measurement:
    if not data.deals:
        return _no_deals("revenue and win rate")
    names = ("won_revenue", "won_deals", "lost_deals", "win_rate", "avg_deal_size")
    metrics = [data.metrics[m] for m in names if m in data.metrics]
    (row,) = kpi_rows(data.deals.values(), (), data.dimensions, metrics, "all") or [{}]
    nums = {m: row.get(m) for m in names}
    closed = Decimal(str(row.get("won_deals") or 0)) + Decimal(str(row.get("lost_deals") or 0))
    met = row.get("win_rate") is not None
    detail = (f"won revenue {money(row.get('won_revenue'))}, win rate "
              f"{pct(row.get('win_rate'))} over {n(int(closed))} closed deals")  # type: ignore[arg-type]
    rec = None if met else (f"close deals as won or lost (with an amount) so revenue and win rate "
                            f"can be measured: 0 of {n(len(data.deals))} deals are closed")
    return Measurement(met, row.get("win_rate"), detail, nums, rec)


# -- level 3 -------------------------------------------------------------------------------------


def stage_history(data: TenantData) -> Measurement:
    total = len(data.deals)
    if not total:
        return _no_deals("stage history")
    with_history = sum(1 for d in data.deals if len(data.stages_of(d)) >= 2)
    share = ratio(with_history, total)
    met = share is not None and share > MOST
    detail = f"{n(with_history)} of {n(total)} deals ({pct(share)}) went through two stages or more"
    rec = None if met else (f"record every stage change of a deal (stage history): {n(with_history)} "
                            f"of {n(total)} deals have one today")
    return Measurement(met, share, detail, {"deals": total, "with_history": with_history}, rec)


def lead_sources(data: TenantData) -> Measurement:
    total = len(data.deals)
    if not total:
        return _no_deals("lead sources")
    with_source = sum(1 for d in data.deals.values() if data.lead_source(d) is not None)
    share = ratio(with_source, total)
    met = share is not None and share > MOST
    detail = f"{n(with_source)} of {n(total)} deals ({pct(share)}) have a lead source"
    rec = None if met else (f"record a lead source on deals: {n(with_source)} of {n(total)} have "
                            f"one today")
    return Measurement(met, share, detail, {"deals": total, "with_source": with_source}, rec)


def _stage_counts(data: TenantData) -> dict[str, int]:
    leads: dict[str, set[str]] = {k: set() for k in FUNNEL}
    for ev in data.leads:
        if ev.kind in leads:
            leads[ev.kind].add(ev.lead_id)
    return {k: len(v) for k, v in leads.items()}


def lead_stages(data: TenantData) -> Measurement:
    counts = _stage_counts(data)
    value = {k: counts[k] for k in ("mql", "sal", "sql")}
    missing = [k.upper() for k, v in value.items() if v == 0]
    detail = ", ".join(f"{k.upper()} {n(v)}" for k, v in value.items()) + " leads recorded"
    rec = None if not missing else (f"record the lead stages {' → '.join(missing)} (lead events "
                                    f"of kind {', '.join(m.lower() for m in missing)}): "
                                    + detail.replace(" leads recorded", " today"))
    return Measurement(not missing, value, detail, value, rec)


# -- level 4 -------------------------------------------------------------------------------------


def funnel_conversion(data: TenantData) -> Measurement:
    counts = _stage_counts(data)
    converted = {ev.deal_id for ev in data.leads if ev.kind == "converted" and ev.deal_id}
    won = sum(1 for d in converted if d in data.deals and data.deals[d].status == "won")
    stages = {**counts, "won": won}
    keys = list(stages)
    conversion = {f"{a}_to_{b}": ratio(stages[b], stages[a]) for a, b in zip(keys, keys[1:], strict=False)}
    missing = [k for k, v in stages.items() if v == 0]
    detail = " → ".join(f"{k} {n(v)}" for k, v in stages.items())
    rec = None if not missing else (f"record every funnel stage to measure conversion at each: no "
                                    f"lead reached {', '.join(missing)} ({detail})")
    return Measurement(not missing, conversion, detail, {"stages": stages, "conversion": conversion},
                       rec)


def marketing_revenue(data: TenantData) -> Measurement:
    won = [d for d in data.deals.values() if d.status == "won"]
    if not won:
        return Measurement(False, None, "no won deals: marketing-sourced revenue cannot be measured",
                           {"won_deals": 0}, "close deals as won to measure marketing-sourced revenue")
    revenue = sum((d.amount or ZERO for d in won), ZERO)
    sourced = [d for d in won if data.lead_source(d) is not None or data.marketing_sourced(d)]
    marketing = [d for d in won if data.marketing_sourced(d)]
    mkt_revenue = sum((d.amount or ZERO for d in marketing), ZERO)
    known = ratio(len(sourced), len(won))
    share = ratio(mkt_revenue, revenue)
    share_deals = ratio(len(marketing), len(won))
    met = known is not None and known > MOST
    nums = {"won_deals": len(won), "won_with_source": len(sourced), "marketing_won_deals": len(marketing),
            "won_revenue": revenue, "marketing_revenue": mkt_revenue, "revenue_share": share,
            "deal_share": share_deals, "benchmark": MARKETING_BENCHMARK}
    if not met:
        return Measurement(False, share, f"{n(len(sourced))} of {n(len(won))} won deals have a known "
                           "source", nums,
                           f"record the source of won deals to measure marketing-sourced revenue: "
                           f"{n(len(sourced))} of {n(len(won))} won deals have one today")
    vs = "at or above" if (share_deals or ZERO) >= MARKETING_BENCHMARK else "below"
    detail = (f"marketing-sourced: {pct(share)} of won revenue, {n(len(marketing))} of {n(len(won))} "
              f"won deals ({pct(share_deals)}, {vs} the ~30 % benchmark)")
    return Measurement(True, share, detail, nums)


def activity_adoption(data: TenantData) -> Measurement:
    reps = data.reps
    start, end = data.window(ADOPTION_DAYS)
    active = {a.owner for a in data.activities if start <= utc_day(a.occurred_at) <= end}
    logged = len(active & reps)
    share = ratio(logged, len(reps))
    met = share is not None and share > MOST
    detail = f"{n(logged)} of {n(len(reps))} reps logged activities from {start} to {end}"
    rec = None if met else (f"log activities in the CRM: {n(logged)} of {n(len(reps))} reps logged "
                            f"any in the last {ADOPTION_DAYS} days")
    return Measurement(met, share, detail, {"reps": len(reps), "reps_with_activities": logged,
                                            "window_start": start, "window_end": end}, rec)


def coaching_hours(data: TenantData) -> Measurement:
    kinds = {"coaching", "training"} & activity_kinds()
    if not kinds:
        return Measurement(False, None, "no data: the event model has no coaching or training "
                           "activities yet", {}, "record coaching and training sessions as "
                           "activities once the event model supports them", no_data=True)
    start, end = data.window(ADOPTION_DAYS)
    sessions = [a for a in data.activities
                if a.kind in kinds and start <= utc_day(a.occurred_at) <= end]
    minutes = sum(a.duration_minutes or 0 for a in sessions)
    hours = quantize(Decimal(minutes) / 60, 2) or ZERO
    reps = len(data.reps)
    per_rep = ratio(hours, reps)
    met = per_rep is not None and per_rep >= COACHING_HOURS_PER_REP
    detail = (f"{n(len(sessions))} coaching/training sessions, {hours} hours for {n(reps)} reps "
              f"({per_rep if per_rep is not None else '–'} per rep) in the last {ADOPTION_DAYS} days")
    rec = None if met else (f"coach and train the team and record it: {per_rep or 0} hours per rep "
                            f"in the last {ADOPTION_DAYS} days, aim for {COACHING_HOURS_PER_REP}")
    return Measurement(met, per_rep, detail, {"sessions": len(sessions), "hours": hours,
                                              "reps": reps, "hours_per_rep": per_rep}, rec)


def goals_tracked(data: TenantData) -> Measurement:
    goals = data.goals
    if not goals:
        return Measurement(False, 0, "no goals defined", {"goals": 0, "tracked": 0},
                           "define goals and track them in Attain (attain goals add): none exists")
    actuals = data.goal_actuals(goals)
    tracked = sum(1 for v in actuals.values() if v is not None)
    met = tracked > 0
    detail = f"{n(len(goals))} goals defined, {n(tracked)} tracked against the CRM's data"
    rec = None if met else (f"track goals on KPIs the CRM records: 0 of {n(len(goals))} goals can be "
                            "measured")
    return Measurement(met, tracked, detail, {"goals": len(goals), "tracked": tracked}, rec)


# -- level 5 -------------------------------------------------------------------------------------


def _funnel_metric(data: TenantData, name: str | None) -> bool:
    m = data.metrics.get(name or "")
    return m is not None and bool({"lead"} & set(m.events))


def shared_funnel_goals(data: TenantData) -> Measurement:
    goals = data.goals
    funnel = [g for g in goals if _funnel_metric(data, g.metric)]
    metrics = sorted({g.metric for g in funnel})
    met = bool(funnel)
    detail = "no goals defined" if not goals else (
        f"{n(len(funnel))} of {n(len(goals))} goals are on funnel KPIs"
        + (f" ({', '.join(metrics)})" if metrics else ""))
    rec = None if met else (f"set shared sales & marketing goals on funnel KPIs (mqls, sqls, "
                            f"leads_converted): 0 of {n(len(goals))} goals are")
    return Measurement(met, len(funnel), detail, {"goals": len(goals), "funnel_goals": len(funnel),
                                                  "metrics": metrics}, rec)


def comp_non_revenue(data: TenantData) -> Measurement:
    plans = data.plans
    counted = []
    for p in plans:
        if any(m is not None and (_funnel_metric(data, m) or _activity_metric(data, m))
               for _, m in p.rule_metrics):
            counted.append(f"{p.name} v{p.version}")
    met = bool(counted)
    detail = "no commission plan is stored" if not plans else (
        f"{n(len(counted))} of {n(len(plans))} commission plan versions pay on funnel or "
        "activity goals" + (f" ({', '.join(counted)})" if counted else ""))
    rec = None if met else (f"add a marketing-sourced or funnel goal to the compensation plan: 0 of "
                            f"{n(len(plans))} plan versions have one")
    nums: dict[str, object] = {"plans": len(plans), "with_non_revenue": len(counted), "names": counted}
    if data.unreadable_plans:
        nums["unreadable"] = list(data.unreadable_plans)
        detail += f"; {len(data.unreadable_plans)} plan version(s) could not be read"
    return Measurement(met, len(counted), detail, nums, rec)


def _activity_metric(data: TenantData, name: str) -> bool:
    m = data.metrics.get(name)
    return m is not None and "activity" in m.events


def campaign_roi(data: TenantData) -> Measurement:
    if not data.supports("cost"):
        return Measurement(False, None, "no data: the event model has no cost events yet", {},
                           "record marketing costs (cost events) to measure CAC and campaign ROI",
                           no_data=True)
    costs = data.of_type("cost")
    total = sum((getattr(c, "amount", None) or ZERO for c in costs), ZERO)
    if not costs or total == 0:
        return Measurement(False, None, "no cost recorded", {"cost_events": len(costs)},
                           "record marketing and sales costs (cost events) to measure CAC and "
                           "campaign ROI: none recorded", no_data=not costs)
    won = [d for d in data.deals.values() if d.status == "won"]
    marketing = sum((d.amount or ZERO for d in won if data.marketing_sourced(d)), ZERO)
    accounts = len({d.account for d in won if d.account})
    roi = quantize((marketing - total) / total, 4)
    cac = None if not accounts else quantize(total / accounts, 2)
    detail = (f"costs {money(total)} over {n(len(costs))} cost events; marketing-sourced won "
              f"revenue {money(marketing)}: ROI {pct(roi)}, CAC {money(cac)}")
    return Measurement(True, roi, detail, {"cost": total, "cost_events": len(costs),
                                           "marketing_revenue": marketing, "roi": roi,
                                           "won_accounts": accounts, "cac": cac})


def forecast_accuracy(data: TenantData) -> Measurement:
    stored = data.stored_forecasts
    if stored is not None and stored.get("periods") and stored.get("mape") is not None:
        accuracy = quantize(1 - stored["mape"] / 100, 4)
        detail = (f"{n(stored['periods'])} forecast periods stored by `attain forecast` have "
                  f"ended: mean absolute percentage error {stored['mape']} %, accuracy "
                  f"{pct(accuracy)}")
        return Measurement(True, accuracy, detail, {"forecasts": stored["periods"], "accuracy": accuracy,
                                                    "mape": stored["mape"],
                                                    "coverage": stored.get("coverage")}, None)
    if not data.supports("forecast"):
        return Measurement(False, None, "no data: no forecasts are recorded (no past period "
                           "of an `attain forecast` run or backtest has ended)", {},
                           "forecast each period from history (`attain forecast`, `attain "
                           "forecast backtest`) to track the accuracy", no_data=True)
    past = [f for f in data.of_type("forecast") if _period_end(f) is not None
            and _period_end(f) < data.as_of]  # type: ignore[operator]
    if not past:
        return Measurement(False, None, "no forecast of a past period is recorded", {"forecasts": 0},
                           "record forecasts of each period to track their accuracy", no_data=True)
    errors = []
    for f in past:
        actual = sum((d.amount or ZERO for d in data.deals.values() if _in_period(d, f)), ZERO)
        amount = getattr(f, "amount", None) or ZERO
        if actual:
            errors.append(abs(amount - actual) / actual)
    accuracy = None if not errors else quantize(1 - sum(errors, ZERO) / len(errors), 4)
    met = accuracy is not None
    detail = f"{n(len(past))} past forecasts, mean accuracy {pct(accuracy)}"
    return Measurement(met, accuracy, detail, {"forecasts": len(past), "accuracy": accuracy},
                       None if met else "compare forecasts with the won revenue of their periods")


def _period_end(f: object):  # type: ignore[no-untyped-def]
    period = getattr(f, "period", None)
    return getattr(period, "end", None)


def _in_period(d: DealEvent, f: object) -> bool:
    period = getattr(f, "period", None)
    return (d.status == "won" and d.closed_on is not None and period is not None
            and period.start <= d.closed_on <= period.end)
