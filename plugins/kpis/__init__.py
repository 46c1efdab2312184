"""The ``kpis`` plugin: what a sales leader tracks beyond deals won and lost.

Registered through the ``attain`` entry-point group like any partner plugin:

* metrics (:mod:`.metrics`): the lead funnel's conversion rates, marketing-sourced revenue and
  its share, costs and marketing ROI, churn and renewals, coaching and training hours, hires
  and departures: additive, exact, live, usable as goal metrics;
* the ``costs`` connector (:mod:`.costs_csv`): ``attain import costs FILE.csv``;
* the ``kpis-demo`` connector (:mod:`.demo`): the SYNTHETIC data of ``attain demo --full``;
* :mod:`.economics`: the figures that need state across events (new and active customers,
  churn rate, CAC, LTV, headcount, turnover, tenure): ``attain economics``.

Every definition is in docs/kpis.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from attain.core import Connector, Metric, hookimpl

from .costs_csv import CostsConnector
from .demo import KpisDemoConnector
from .metrics import METRICS


@hookimpl
def attain_register_metrics(register: Callable[[Metric], None]) -> None:
    for m in METRICS:
        register(m)


@hookimpl
def attain_register_connectors(register: Callable[[Connector], None]) -> None:
    register(CostsConnector())
    register(KpisDemoConnector())


@hookimpl
def attain_register_commands(cli: Any) -> None:
    from .cli import register

    register(cli)
