"""``attain forecast backtest --cutoff 2017-06-30``: train on the months up to the cutoff,
forecast the months after it up to the end of the data, and compare with what happened.

* **MAPE** = the mean over the test months of ``|actual − forecast| / actual`` in percent
  (months with no revenue are left out: their error has no percentage);
* **coverage** (models) = the share of test months whose actual lies inside the model's
  prediction interval (80 %);
* **baselines**: ``last_period`` (every month = the cutoff's month), ``same_period_last_year``
  (the month a year earlier; none when the history is shorter than that),
  ``moving_average`` (the mean of the last 3 months).

Every statsmodels model the training months allow is tried (:data:`.series.MODELS`). A model
whose MAPE is worse than a baseline's *loses* to it, and the result says so.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from attain.core import Period, UserError

from . import series
from .history import History

ZERO = Decimal(0)
HUNDRED = Decimal(100)
MOVING_WINDOW = 3


def mape(actual: list[Decimal], forecast: list[Decimal | None]) -> Decimal | None:
    errors = [abs(a - f) / a for a, f in zip(actual, forecast, strict=True)
              if f is not None and a != 0]
    if not errors or any(f is None for f in forecast):
        return None
    return (sum(errors, ZERO) / len(errors) * HUNDRED).quantize(Decimal("0.01"))


def _baselines(train: list[Decimal], months: list[Period], future: list[Period]
               ) -> dict[str, list[Decimal | None]]:
    by_key = dict(zip((m.key for m in months), train, strict=True))
    window = train[-MOVING_WINDOW:]
    avg = (sum(window, ZERO) / len(window)).quantize(series.CENT)
    return {
        "last_period": [train[-1]] * len(future),
        "same_period_last_year": [by_key.get(m.shift_years(-1).key) for m in future],
        "moving_average": [avg] * len(future),
    }


def _check(cutoff: dt.date, months: list[Period], h: History) -> None:
    if (cutoff + dt.timedelta(days=1)).day != 1:
        raise UserError(f"the cutoff {cutoff} is not the last day of a month (e.g. 2017-06-30)")
    if cutoff >= months[-1].start:
        raise UserError(f"nothing to test after the cutoff {cutoff}: the data ends {h.as_of}")


def backtest_history(h: History, cutoff: dt.date, grouping: str = "company") -> dict[str, Any]:
    months_all, by_group = series.monthly(h, "company")
    _check(cutoff, months_all, h)
    actual_all = by_group["company"]
    n_train = sum(1 for m in months_all if m.end <= cutoff)
    if n_train == 0:
        raise UserError(f"no history before the cutoff {cutoff} (the first close is in "
                        f"{months_all[0].key})")
    train, actual = actual_all[:n_train], actual_all[n_train:]
    train_months, future = months_all[:n_train], months_all[n_train:]
    periods = [{"period": m.key, "actual": a} for m, a in zip(future, actual, strict=True)]
    models: list[dict[str, Any]] = []
    for name, (need, _) in series.MODELS.items():
        if n_train < need:
            continue
        f = series.fit(train, len(future), name)
        rows = series.aggregate(f, future, "month")
        fc = [r["forecast"] for r in rows]
        inside = [r["lower"] <= a <= r["upper"] for r, a in zip(rows, actual, strict=True)]
        for p, r in zip(periods, rows, strict=True):
            p[name] = r["forecast"]
            p[f"{name}_lower"], p[f"{name}_upper"] = r["lower"], r["upper"]
        models.append({"name": name, "mape": mape(actual, list(fc)),
                       "coverage": (Decimal(sum(inside)) / len(inside)).quantize(Decimal("0.0001")),
                       "rows": rows})
    if not models:
        raise UserError(f"{n_train} month(s) before the cutoff is too little for any model "
                        f"(at least {series.MODELS['ets-simple'][0]})")
    baselines = []
    for name, values in _baselines(train, train_months, future).items():
        m = mape(actual, values)
        baselines.append({"name": name, "mape": m,
                          "note": None if m is not None else "no history a year before"})
        for p, v in zip(periods, values, strict=True):
            p[name] = v
    verdicts = _verdicts(models, baselines)
    return {"cutoff": cutoff, "train": [train_months[0].key, train_months[-1].key],
            "test": [future[0].key, future[-1].key], "interval": series.LEVEL,
            "models": [{k: v for k, v in m.items() if k != "rows"} for m in models],
            "baselines": baselines, "periods": periods, "verdicts": verdicts,
            "figures": [{"group": "company", **r} for r in models[0]["rows"]],
            "model": models[0]["name"]}


def _verdicts(models: list[dict[str, Any]], baselines: list[dict[str, Any]]) -> list[str]:
    out = []
    scored = [b for b in baselines if b["mape"] is not None]
    for m in models:
        losses = [b for b in scored if m["mape"] is not None and b["mape"] < m["mape"]]
        if losses:
            out.append(f"{m['name']} (MAPE {m['mape']}%) loses to the naive baseline"
                       f"{'s' if len(losses) > 1 else ''} "
                       + ", ".join(f"{b['name']} ({b['mape']}%)" for b in losses))
        elif scored:
            best = min(scored, key=lambda b: b["mape"])
            out.append(f"{m['name']} (MAPE {m['mape']}%) beats every naive baseline "
                       f"(best: {best['name']}, {best['mape']}%)")
    return out
