"""Attain core: the public API plugins build on.

A plugin needs one import::

    from attain.core import Metric, hookimpl

Everything a plugin may use is listed in :data:`__all__` (and in docs/architecture.md); besides
these names, plugins may import the public modules ``attain.core.models`` (event models),
``attain.core.output`` (exact JSON/CSV), ``attain.core.cli_kit`` (command-line helpers),
``attain.core.store`` (persistence helpers), ``attain.core.periods``, ``attain.core.kpi`` and
``attain.core.fx`` (exchange rates).
Names starting with an underscore and ``attain.core.cli`` are internal.
"""

from .connectors import Batch, Connector, ConnectorError, read_through
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
from .periods import Period, PeriodError, parse_period, utc_day
from .plugins import PluginError, Plugins, RegistrationError, get_plugins, hookimpl
from .records import Record, Rejection, Result
from .store import DEFAULT_TENANT, ExactDecimal, Migrations, Store, upsert

__all__ = [
    "DEFAULT_TENANT", "FACT_TYPES", "Account", "ActivityEvent", "AnyEvent", "Batch", "Connector",
    "ConnectorError", "CustomerEvent", "DealEvent", "Dimensions", "Engine", "ExactDecimal",
    "LeadEvent", "Metric", "Migrations", "Period", "PeriodError", "PluginError", "Plugins",
    "Product", "Rates", "Record", "RegistrationError", "Rejection", "Rep", "Result", "Store", "UserError",
    "get_plugins", "hookimpl", "read_through", "kpi_rows", "parse_event", "parse_period",
    "quantize", "rollup", "upsert", "utc_day",
]
