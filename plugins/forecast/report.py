"""``attain plan report``: the figures of the plan document, gathered once (rendered by
:mod:`.render`).

Every figure comes from the same functions as the commands: the forecast
(:func:`.service.forecast_history`, as ``attain forecast --period YEAR``), the backtest
(``attain forecast backtest``), the what-if without levers (``attain whatif``, with the
``--plan`` costed), the insight (``attain forecast insight``) and the goals plugin's stored
goals. The strategy notes are the user's YAML (``--notes``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml
from attain.core import Engine, Period, UserError, quantize

from . import backtest as bt
from . import history as hist
from . import insight, service, whatif
from .history import History


def default_cutoff(h: History) -> dt.date:
    """The end of the month six months before the data's last month (a half-year test)."""
    last = Period.of(h.as_of, "month")
    p = last
    for _ in range(6):
        p = p.prev()
    return p.end


def load_notes(path: Path | None) -> list[dict[str, Any]]:
    """Strategy notes: a YAML mapping of title → text (or a list of points), or a list of
    ``{title, text}`` / ``{title, points}``."""
    if path is None:
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"--notes: cannot read {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise UserError(f"--notes: {path} is not YAML: {str(exc).splitlines()[0]}") from None
    if isinstance(data, dict) and isinstance(data.get("strategy"), (list, dict)):
        data = data["strategy"]
    items = list(data.items()) if isinstance(data, dict) else None
    out: list[dict[str, Any]] = []
    if items is not None:
        for title, body in items:
            out.append({"title": str(title), "points": _points(body, path)})
    elif isinstance(data, list):
        for i, entry in enumerate(data, 1):
            if not isinstance(entry, dict) or "title" not in entry:
                raise UserError(f"--notes: {path}: entry {i} needs a title")
            out.append({"title": str(entry["title"]),
                        "points": _points(entry.get("points", entry.get("text", "")), path)})
    else:
        raise UserError(f"--notes: {path}: expected a mapping of title: text, or a list of "
                        "{title, text}")
    return out


def _points(body: Any, path: Path) -> list[str]:
    if isinstance(body, list):
        return [str(x) for x in body]
    if isinstance(body, (str, int, float)):
        return [str(body)]
    raise UserError(f"--notes: {path}: a note is text or a list of points")


def timeline(year: int) -> list[dict[str, str]]:
    """The review calendar of the plan year."""
    rows = [{"when": f"{year}-01-08", "what": "kick-off: targets, quotas and territories live"}]
    for m in range(1, 13):
        rows.append({"when": f"{year}-{m:02d}-05",
                     "what": "monthly pipeline and forecast review (attain forecast)"})
    for qi in range(1, 5):
        end = Period.calendar("quarter", year, qi).end
        rows.append({"when": (end + dt.timedelta(days=10)).isoformat(),
                     "what": f"Q{qi} business review: attainment, forecast accuracy, adjustments"})
    rows.append({"when": f"{year}-07-15", "what": "mid-year plan review (attain whatif)"})
    rows.append({"when": f"{year}-10-15", "what": f"{year + 1} planning starts (attain plan report)"})
    return sorted(rows, key=lambda r: r["when"])


def _goals(engine: Engine, tenant: str, year: int) -> list[dict[str, Any]]:
    from attain.plugins.goals import GoalService

    year_p = Period.calendar("year", year)
    out = []
    goals = sorted(GoalService(engine, tenant).goals(),
                   key=lambda g: (g.period.start, g.period.end, g.id))
    for g in goals:
        if g.period.overlaps(year_p.start, year_p.end):
            out.append({"id": g.id, "parent": g.parent, "metric": g.metric, "owner": g.owner,
                        "period": g.period.label, "target": g.target, "stretch": g.stretch})
    return out


def _kpi_targets(last: dict[str, Any], plan: dict[str, Any]) -> list[dict[str, Any]]:
    target = plan["target"]
    win, size, cycle = last["win_rate"], last["avg_deal_size"], last["cycle_days"]
    rows = [{"kpi": "won_revenue", "last_year": last["revenue"], "target": target},
            {"kpi": "win_rate", "last_year": win, "target": win},
            {"kpi": "avg_deal_size", "last_year": size, "target": size},
            {"kpi": "avg_cycle_days", "last_year": cycle, "target": cycle}]
    if win and size:
        rows.append({"kpi": "won_deals", "last_year": last["won"],
                     "target": quantize(target / size, 0)})
        rows.append({"kpi": "closed_pipeline_needed", "last_year": None,
                     "target": quantize(target / win, 2)})
    return rows


def plan_data(engine: Engine, tenant: str, year: int, *, growth: Any = None,
              plan: Path | None = None, notes: Path | None = None,
              cutoff: dt.date | None = None, ramp_months: int = 3) -> dict[str, Any]:
    h = hist.load(engine, tenant)
    base = year - 1
    last_deals = [d for d in h.deals if d.closed_on and d.closed_on.year == base]
    if not last_deals:
        raise UserError(f"no deals closed in {base} to plan {year} from")
    last = insight.stats(last_deals)
    regions = sorted({h.group_of(d, "region") for d in last_deals})
    by_region = [{"region": r, **insight.stats([d for d in last_deals
                                                if h.group_of(d, "region") == r])}
                 for r in regions]
    fc = service.forecast_history(h, "company", Period.calendar("year", year))
    cut = cutoff or default_cutoff(h)
    backtest = bt.backtest_history(h, cut)
    backtest.pop("figures", None)
    levers: dict[str, Any] = {"ramp_months": ramp_months}
    if growth is not None:
        levers["growth"] = growth
    compiled = whatif.load_plan(plan) if plan is not None else None
    capacity = whatif.recompute(whatif.Basis.load(engine, tenant, year), plan=compiled, **levers)
    quarters = [p for p in fc["periods"] if p["group"] == "company"]
    fc_total = sum((p["forecast"] for p in quarters), last["revenue"] * 0)
    return {
        "year": year, "base_year": base, "as_of": h.as_of,
        "summary": {"target": capacity["target"], "growth": capacity["growth"],
                    "last_year_revenue": last["revenue"], "forecast_total": fc_total,
                    "expected_revenue": capacity["expected_revenue"],
                    "capacity_gap": capacity["capacity_gap"],
                    "hires_needed": capacity["hires_needed"],
                    "weighted_pipeline": fc["weighted_pipeline"],
                    "pipeline": fc["pipeline"],
                    "commission_cost": capacity["commission_cost"],
                    "model": fc["models"]["company"],
                    "backtest_mape": backtest["models"][0]["mape"]},
        "last_year": {**last, "regions": by_region},
        "goals": _goals(engine, tenant, year),
        "segments": insight.segments(h),
        "bottlenecks": insight.bottlenecks(h),
        "performers": insight.performers(h, activities=insight.activity_counts(engine, tenant)),
        "forecast": {"periods": quarters, "history": fc["history"], "model": fc["models"]["company"],
                     "interval": fc["interval"], "pipeline": fc["pipeline"],
                     "weighted_pipeline": fc["weighted_pipeline"],
                     "probabilities": fc["probabilities"]},
        "backtest": backtest,
        "capacity": {k: v for k, v in capacity.items() if k != "reps"},
        "reps": capacity["reps"],
        "kpis": _kpi_targets(last, capacity),
        "timeline": timeline(year),
        "strategy": load_notes(notes),
    }
