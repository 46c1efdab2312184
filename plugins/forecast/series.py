"""Closed (won) revenue per period and group, and its forecast with exponential smoothing.

The series is monthly: won revenue by the month of ``closed_on``, from the first month with a
close to the month the data ends (months without a close are 0). Quarters are forecast from the
monthly model and summed, so a quarter's interval accounts for the months in it.

The model is statsmodels' ``ETSModel`` (additive errors), chosen by how much history there is:

* ``ets-seasonal``: additive damped trend and additive 12-month seasonality — from 24 months
  (two full seasons);
* ``ets-damped``: additive damped trend (Holt) — from 8 months;
* ``ets-simple``: simple exponential smoothing (level only) — from 3 months.

Prediction intervals come from simulating the fitted model (``simulate``, 2,000 paths, anomaly
``"bootstrap"`` off: normal errors) with a fixed seed, so the same data always gives the same
figures; a quarter's interval is the quantile of the simulated quarter sums. Revenue is never
negative: paths and means below 0 are cut at 0. Figures are rounded
to cents (Decimal) on the way out; the model itself works in floats.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from attain.core import Period, UserError

from .history import History

ZERO = Decimal(0)
SEED = 20180101
PATHS = 2000
LEVEL = Decimal("0.80")  # the prediction interval's coverage
CENT = Decimal("0.01")

#: model name → (minimum months of history, ETSModel keyword arguments)
MODELS: dict[str, tuple[int, dict[str, Any]]] = {
    "ets-seasonal": (24, {"trend": "add", "damped_trend": True, "seasonal": "add",
                          "seasonal_periods": 12}),
    "ets-damped": (8, {"trend": "add", "damped_trend": True}),
    "ets-simple": (3, {}),
}


def month_of(day: dt.date) -> Period:
    return Period.of(day, "month")


def months_between(first: Period, last: Period) -> list[Period]:
    out = []
    p = first
    while p.start <= last.start:
        out.append(p)
        p = p.next()
    return out


def monthly(history: History, grouping: str, cutoff: dt.date | None = None
            ) -> tuple[list[Period], dict[str, list[Decimal]]]:
    """(months, group → won revenue per month) up to the month of ``cutoff`` (or the data's end)."""
    won = [d for d in history.won() if cutoff is None or (d.closed_on and d.closed_on <= cutoff)]
    if not won:
        raise UserError("no won deals to forecast from" + (f" by {cutoff}" if cutoff else ""))
    last_day = cutoff or history.as_of
    first = month_of(min(d.closed_on for d in won if d.closed_on))
    months = months_between(first, month_of(last_day))
    index = {m.key: i for i, m in enumerate(months)}
    out: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO] * len(months))
    for d in won:
        assert d.closed_on is not None and d.amount is not None
        out[history.group_of(d, grouping)][index[month_of(d.closed_on).key]] += d.amount
    return months, dict(sorted(out.items()))


def choose_model(n: int) -> str:
    for name, (need, _) in MODELS.items():
        if n >= need:
            return name
    raise UserError(f"{n} month(s) of history is too little to forecast (at least "
                    f"{MODELS['ets-simple'][0]} are needed)")


@dataclass
class Fit:
    model: str
    mean: np.ndarray   # per future month
    paths: np.ndarray  # (months, PATHS) simulated future months


def fit(values: Sequence[Decimal], horizon: int, model: str | None = None) -> Fit:
    """Fit ``model`` (or the one the length allows) and forecast ``horizon`` months."""
    try:
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    except ImportError:
        raise UserError("forecasting needs statsmodels: pip install 'attain[forecast]'") from None

    name = model or choose_model(len(values))
    need, kwargs = MODELS[name]
    if len(values) < need:
        raise UserError(f"model {name} needs {need} months of history; there are {len(values)}")
    y = np.array([float(v) for v in values])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on short series
        res = ETSModel(y, error="add", **kwargs).fit(disp=False, maxiter=2000)
        mean = np.asarray(res.forecast(horizon))
        paths = np.asarray(res.simulate(horizon, repetitions=PATHS, anchor="end",
                                        random_errors=None,
                                        rng=np.random.default_rng(SEED)))
    # won revenue is never negative: a path (or mean) below 0 is cut at 0
    return Fit(name, np.maximum(mean, 0.0), np.maximum(paths.reshape(horizon, PATHS), 0.0))


def money(x: float) -> Decimal:
    return Decimal(repr(float(x))).quantize(CENT)


def interval(samples: np.ndarray) -> tuple[Decimal, Decimal]:
    tail = (1 - float(LEVEL)) / 2
    lo, hi = np.quantile(samples, [tail, 1 - tail])
    return money(lo), money(hi)


def aggregate(f: Fit, future: list[Period], kind: str) -> list[dict[str, Any]]:
    """Forecast rows per future ``kind`` period (month or quarter) from a monthly fit; only
    whole periods (a quarter whose months are all in ``future``)."""
    buckets: dict[str, list[int]] = defaultdict(list)
    for i, m in enumerate(future):
        buckets[m.key if kind == "month" else Period.of(m.start, "quarter").key].append(i)
    rows = []
    for key, idx in buckets.items():
        if kind == "quarter" and len(idx) < 3:
            continue
        lo, hi = interval(f.paths[idx].sum(axis=0))
        rows.append({"period": key, "forecast": money(f.mean[idx].sum()), "lower": lo,
                     "upper": hi})
    return rows


def target_periods(last_month: Period, target: Period | None) -> tuple[list[Period], str, Period]:
    """(future months to forecast, the row granularity, the target) for ``--period``: a month
    gives monthly rows, a quarter or a year quarterly rows; the default is the next year."""
    if target is None:
        target = Period.calendar("year", last_month.year + 1)
    if target.end <= last_month.end:
        raise UserError(f"{target.key} is not after the data, which ends in {last_month.key}")
    kind = "month" if target.kind == "month" else "quarter"
    future = months_between(last_month.next(), month_of(target.end))
    return future, kind, target
