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
from typing import TYPE_CHECKING, Any

from attain.core import hookimpl

if TYPE_CHECKING:
    import typer
    from attain.core import Migrations

    from .accuracy import accuracy as forecast_accuracy

#: The plugin's public API, for other plugins (the maturity assessment reads the accuracy of the
#: stored forecasts): ``forecast_accuracy(engine, tenant)``, see :func:`.accuracy.accuracy`.
__all__ = ["forecast_accuracy"]


def __getattr__(name: str) -> Any:  # the public names, imported on first use
    if name == "forecast_accuracy":
        from .accuracy import accuracy

        return accuracy
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def attain_register_migrations(register: Callable[[Migrations], None]) -> None:
    from attain.core import Migrations

    register(Migrations("forecast", Path(__file__).parent / "migrations", "forecast runs and figures"))


#: the commands (imported only when one runs); ``plan`` adds ``report`` to the goals plugin's
#: ``plan`` group (this hook runs last, after the goals plugin named it)
COMMANDS = {"forecast": "Forecast revenue: weighted pipeline, time series, backtest.",
            "whatif": "Recompute next year's plan under changed assumptions: expected revenue, "
                      "quota coverage, capacity gap, hires needed, commission cost and cost of sales.",
            "plan": "Planning: the plan document."}


@hookimpl(trylast=True)
def attain_register_commands(cli: typer.Typer) -> None:
    from attain.core.cli_kit import lazy_commands

    lazy_commands(cli, "attain.plugins.forecast.commands:register", COMMANDS)
