"""Attain core: the public API plugins build on.

A plugin needs one import::

    from attain.core import Metric, hookimpl

Everything a plugin may use is listed in :data:`__all__` (and in docs/architecture.md); besides
these names, plugins may import the public modules ``attain.core.models`` (event models),
``attain.core.output`` (exact JSON/CSV), ``attain.core.cli_kit`` (command-line helpers),
``attain.core.store`` (persistence helpers), ``attain.core.periods``, ``attain.core.kpi``,
``attain.core.rollups`` (the KPI roll-ups' pure functions), ``attain.core.period_metrics`` (figures
from state across events) and ``attain.core.fx`` (exchange rates).
Names starting with an underscore and ``attain.core.cli`` are internal.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names are imported on first use (``attain --help`` needs none of them)
    from .connectors import Batch, Connector, ConnectorError, process_batch, read_through
    from .engine import Engine
    from .errors import UserError
    from .fx import Rates
    from .kpi import FACT_TYPES, Dimensions, Metric, kpi_rows, quantize, rollup
    from .models import (
        Account,
        ActivityEvent,
        AnyEvent,
        CustomerEvent,
        DealEvent,
        LeadEvent,
        Product,
        Rep,
        parse_event,
    )
    from .period_metrics import PeriodMetric, PeriodReads
    from .periods import Period, PeriodError, parse_period, utc_day
    from .plugins import PluginError, Plugins, RegistrationError, get_plugins, hookimpl
    from .records import Record, Rejection, Result
    from .store import DEFAULT_TENANT, ExactDecimal, Migrations, Store, upsert, write_locked

#: module (relative to this package) -> the public names it provides
_PROVIDERS: dict[str, list[str]] = {
    "connectors": ["Batch", "Connector", "ConnectorError", "process_batch", "read_through"],
    "engine": ["Engine"],
    "errors": ["UserError"],
    "fx": ["Rates"],
    "kpi": ["FACT_TYPES", "Dimensions", "Metric", "kpi_rows", "quantize", "rollup"],
    "models": ["Account", "ActivityEvent", "AnyEvent", "CustomerEvent", "DealEvent", "LeadEvent",
               "Product", "Rep", "parse_event"],
    "period_metrics": ["PeriodMetric", "PeriodReads"],
    "periods": ["Period", "PeriodError", "parse_period", "utc_day"],
    "plugins": ["PluginError", "Plugins", "RegistrationError", "get_plugins", "hookimpl"],
    "records": ["Record", "Rejection", "Result"],
    "store": ["DEFAULT_TENANT", "ExactDecimal", "Migrations", "Store", "upsert", "write_locked"],
}
_WHERE = {name: module for module, names in _PROVIDERS.items() for name in names}


def __getattr__(name: str) -> Any:
    """The public names, imported on first use: loading a plugin (``from attain.core import
    hookimpl``) does not import the engine, SQLAlchemy or pydantic's models."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


__all__ = [
    "DEFAULT_TENANT", "FACT_TYPES", "Account", "ActivityEvent", "AnyEvent", "Batch", "Connector",
    "ConnectorError", "CustomerEvent", "DealEvent", "Dimensions", "Engine", "ExactDecimal",
    "LeadEvent", "Metric", "Migrations", "Period", "PeriodError", "PeriodMetric", "PeriodReads",
    "PluginError", "Plugins",
    "Product", "Rates", "Record", "RegistrationError", "Rejection", "Rep", "Result", "Store", "UserError",
    "get_plugins", "hookimpl", "process_batch", "read_through", "kpi_rows", "parse_event", "parse_period",
    "quantize", "rollup", "upsert", "utc_day", "write_locked",
]
