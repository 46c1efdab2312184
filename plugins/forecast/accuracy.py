"""Forecast accuracy of past periods, a KPI: every stored figure (forecast runs and backtests)
whose period has ended by the day the data ends is compared with the won revenue of its group
in that period.

* ``ape`` = ``|actual − forecast| / actual`` in percent (none when the actual is 0);
* ``inside`` = whether the actual lies inside the stored interval;
* per run and overall: ``mape`` (the mean ape) and ``coverage`` (the share inside).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from attain.core import Engine

from . import history as hist
from . import storage
from .history import History

ZERO = Decimal(0)
CENT = Decimal("0.01")


def _actual(h: History, grouping: str, group: str, start: Any, end: Any,
            cache: dict[tuple[str, str, Any, Any], Decimal]) -> Decimal:
    key = (grouping, group, start, end)
    if key not in cache:
        cache[key] = sum((d.amount for d in h.won() if d.amount is not None and d.closed_on
                          and start <= d.closed_on <= end
                          and (group == "company" or h.group_of(d, grouping) == group)), ZERO)
    return cache[key]


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    apes = [r["_ape"] for r in rows if r["_ape"] is not None]
    return {"periods": len(rows),
            "mape": (sum(apes, ZERO) / len(apes)).quantize(CENT) if apes else None,
            "coverage": (Decimal(sum(r["inside"] for r in rows)) / len(rows)
                         ).quantize(Decimal("0.0001")) if rows else None}


def accuracy_of(h: History, figures: list[dict[str, Any]]) -> dict[str, Any]:
    cache: dict[tuple[str, str, Any, Any], Decimal] = {}
    rows = []
    for f in figures:
        if f["period_end"] > h.as_of:
            continue
        actual = _actual(h, f["grouping"], f["group"], f["period_start"], f["period_end"], cache)
        exact = abs(actual - f["forecast"]) / actual * 100 if actual else None
        rows.append({"run": f["run"], "kind": f["kind"], "model": f["model"],
                     "created_at": f["created_at"], "group": f["group"], "period": f["period"],
                     "forecast": f["forecast"], "lower": f["lower"], "upper": f["upper"],
                     "actual": actual, "ape": exact.quantize(CENT) if exact is not None else None,
                     "_ape": exact,
                     "inside": f["lower"] <= actual <= f["upper"]})
    by_run: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_run[r["run"]].append(r)
    runs = [{"run": run, "kind": rs[0]["kind"], "model": rs[0]["model"], **_summary(rs)}
            for run, rs in sorted(by_run.items())]
    summary = _summary(rows)
    for r in rows:
        del r["_ape"]
    return {"as_of": h.as_of, **summary, "runs": runs, "rows": rows}


def accuracy(engine: Engine, tenant: str) -> dict[str, Any]:
    """The accuracy KPI of the tenant's stored forecasts."""
    return accuracy_of(hist.load(engine, tenant), storage.figures(engine.store, tenant))
