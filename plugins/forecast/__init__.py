"""The ``forecast`` plugin: forecasting and the sales plan (docs/forecast.md).

* ``attain forecast`` — the weighted pipeline (stage probabilities learned from history), the
  time-series forecast of won revenue (statsmodels exponential smoothing, prediction intervals),
  commit / best case / weighted per period; ``backtest`` and ``accuracy`` (:mod:`.cli`);
* ``attain whatif`` — next year's plan recomputed under changed assumptions (:mod:`.whatif`);
* ``attain plan report`` — the plan document (:mod:`.report`), added to the ``plan`` group the
  goals plugin owns (this hook runs last, so the group exists when goals is installed);
* its tables (``forecast_runs``, ``forecast_figures``) are migrated with the store
  (``migrations/``).

It uses only ``attain.core``'s public API and the goals and incentives plugins' public functions.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer
from attain.core import Migrations, hookimpl


@hookimpl
def attain_register_migrations(register: Callable[[Migrations], None]) -> None:
    register(Migrations("forecast", Path(__file__).parent / "migrations", "forecast runs and figures"))


@hookimpl(trylast=True)
def attain_register_commands(cli: typer.Typer) -> None:
    from .commands import register

    register(cli)
