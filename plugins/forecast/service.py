"""``attain forecast``: the weighted pipeline, the time-series forecast and commit / best case /
weighted side by side, per period (and group); each run can be stored (:mod:`.storage`)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from attain.core import Engine, Period, UserError

from . import history as hist
from . import pipeline, series, storage
from .history import History

ZERO = Decimal(0)
COMMIT_PROBABILITY = Decimal("0.6")


def _period_of(day: dt.date, kind: str) -> str:
    return Period.of(day, "month" if kind == "month" else "quarter").key


def _side_by_side(deals: list[dict[str, Any]], kind: str, commit_p: Decimal
                  ) -> dict[tuple[str, str], dict[str, Decimal]]:
    """(group, period) → pipeline, weighted, commit and best case of the open deals expected
    to close in it (the company under the group ``company``)."""
    out: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(
        lambda: {"pipeline": ZERO, "weighted": ZERO, "commit": ZERO, "best_case": ZERO})
    for d in deals:
        key = _period_of(d["expected_close"], kind)
        for group in {"company", d["group"]}:
            acc = out[(group, key)]
            acc["pipeline"] += d["amount"]
            acc["best_case"] += d["amount"]
            acc["weighted"] += d["weighted"]
            if d["probability"] is not None and d["probability"] >= commit_p:
                acc["commit"] += d["amount"]
    return out


def forecast_history(h: History, grouping: str = "company", target: Period | None = None,
                     min_sample: int = pipeline.MIN_SAMPLE,
                     commit_probability: Decimal = COMMIT_PROBABILITY) -> dict[str, Any]:
    """The forecast of ``h`` (pure: nothing is read or stored)."""
    hist.check_grouping(grouping)
    learned = pipeline.learn(h, grouping, min_sample)
    deals = pipeline.weighted(h, learned)
    months, by_group = series.monthly(h, grouping)
    future, kind, target = series.target_periods(months[-1], target)
    company_values = [sum(col, ZERO) for col in zip(*by_group.values(), strict=True)]
    groups: list[tuple[str, list[Decimal]]] = [("company", company_values)]
    if grouping != "company":
        groups += list(by_group.items())
    side = _side_by_side(deals, kind, commit_probability)
    rows: list[dict[str, Any]] = []
    models: dict[str, str] = {}
    for group, values in groups:
        f = series.fit(values, len(future))
        models[group] = f.model
        for r in series.aggregate(f, future, kind):
            p = Period.parse(r["period"])
            if p.start < target.start:
                continue  # only the asked period (the months before it are the path to it)
            extra = side.get((group, r["period"]), {})
            rows.append({"group": group, **r, "model": f.model,
                         "period_start": p.start, "period_end": p.end,
                         "weighted": extra.get("weighted", ZERO),
                         "commit": extra.get("commit", ZERO),
                         "best_case": extra.get("best_case", ZERO)})
    return {
        "as_of": h.as_of, "grouping": grouping, "target": target.key,
        "interval": series.LEVEL, "commit_probability": commit_probability,
        "pipeline": sum((d["amount"] for d in deals), ZERO),
        "weighted_pipeline": sum((d["weighted"] for d in deals), ZERO),
        "open_deals": len(deals),
        "estimated_amounts": sum(1 for d in deals if d["estimated"]),
        "overdue_deals": sum(1 for d in deals if d["overdue"]),
        "probabilities": pipeline.probability_rows(learned),
        "history": [{"period": m.key, "won_revenue": v} for m, v in zip(months, company_values,
                                                                         strict=True)],
        "models": models,
        "periods": rows,
        "deals": deals,
    }


def forecast(engine: Engine, tenant: str, grouping: str = "company", target: Period | None = None,
             min_sample: int = pipeline.MIN_SAMPLE,
             commit_probability: Decimal = COMMIT_PROBABILITY, save: bool = True) -> dict[str, Any]:
    """The tenant's forecast; stored as a run (``save``) so its accuracy can be measured later."""
    if min_sample < 1:
        raise UserError("--min-sample must be 1 or more")
    result = forecast_history(hist.load(engine, tenant), grouping, target, min_sample,
                              commit_probability)
    if save:
        result["run"] = storage.save_run(
            engine.store, tenant, kind="forecast", model=result["models"]["company"],
            grouping=grouping, data_as_of=result["as_of"], cutoff=None, figures=result["periods"])
    return result
