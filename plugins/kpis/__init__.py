"""The ``kpis`` plugin: what a sales leader tracks beyond deals won and lost.

Registered through the ``attain`` entry-point group like any partner plugin:

* metrics (:mod:`.metrics`): the lead funnel's conversion rates, marketing-sourced revenue and
  its share, costs and marketing ROI, churn and renewals, coaching and training hours, hires
  and departures: additive, exact, live, usable as goal metrics;
* the ``costs`` connector (:mod:`.costs_csv`): ``attain import costs FILE.csv``;
* the ``kpis-demo`` connector (:mod:`.demo`): the SYNTHETIC data of ``attain demo --full``;
* :mod:`.economics`: the figures that need state across events (new and active customers,
  churn rate, CAC, LTV, headcount, turnover, tenure): ``attain economics``, and (:mod:`.period`)
  the same figures as period metrics: ``attain kpi`` columns and goal metrics.

Every definition is in docs/kpis.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from attain.core import hookimpl

if TYPE_CHECKING:  # imported by the hooks (`attain --help` loads this module and needs none)
    from attain.core import Connector, Metric, PeriodMetric

#: the commands, imported only when one runs (their one-line help, shown by `attain --help`)
COMMANDS = {
    "economics": "Customers (new, churn, NRR, CAC, LTV), team (headcount, turnover, tenure) and "
                 "lead → won figures of one period, or campaign ROI with --by campaign "
                 "(docs/kpis.md).",
    "funnel": "The deal funnel from every deal's version history: deals that reached each stage, "
              "stage-to-stage conversion, mean and median days in stage, the bottleneck.",
}


def __getattr__(name: str) -> Any:  # METRICS, imported on first use
    if name == "METRICS":
        from .metrics import METRICS

        return METRICS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def attain_register_metrics(register: Callable[[Metric], None]) -> None:
    from .metrics import METRICS

    for m in METRICS:
        register(m)


@hookimpl
def attain_register_period_metrics(register: Callable[[PeriodMetric], None]) -> None:
    from .period import PERIOD_METRICS

    for m in PERIOD_METRICS:
        register(m)


@hookimpl
def attain_register_connectors(register: Callable[[Connector], None]) -> None:
    from .costs_csv import CostsConnector
    from .demo import KpisDemoConnector

    register(CostsConnector())
    register(KpisDemoConnector())


@hookimpl
def attain_register_commands(cli: Any) -> None:
    from attain.core.cli_kit import lazy_commands

    lazy_commands(cli, "attain.plugins.kpis.cli:register", COMMANDS)
