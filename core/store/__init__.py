"""The persistence layer: every SQL statement of Attain's core lives in this package.

* :mod:`.schema` — the core's tables (SQLAlchemy Core ``Table`` objects: ``events_table`` …, on
  :data:`metadata`) and :class:`ExactDecimal` for plugins' money columns;
* :mod:`.db` — :class:`Store`: the database URL, connections, transactions, settings, counters;
* :mod:`.sql` — :func:`upsert`, :func:`lock_tenant`, :func:`bump_counters`, driver-level SQL;
* :mod:`.cells` — how a KPI cell's id and components are encoded (:func:`cell_id`, :func:`cell_key`);
* :mod:`.writer` — the batch writer on the engine's hot path (events, deals, KPI roll-up deltas);
* :mod:`.reads` — tenant-scoped reads (:func:`read_rollups`: the KPI roll-ups);
* :mod:`.migrations` — Alembic migrations of the core and of every plugin (:class:`Migrations`).

Plugins use :class:`Store` (``store.connect()``, ``store.transaction(tenant)``), :func:`upsert`,
:func:`write_locked` (for a transaction that reads what it writes),
:class:`ExactDecimal`, :data:`ID_TYPE` and :class:`Migrations`; everything here is tenant-scoped
by its arguments.

The ORM classes of earlier versions (``EventRow``, ``MetaRow`` …, :mod:`.orm`) are still importable
from here, mapped onto the same tables; they are imported (with ``sqlalchemy.orm``) only when asked
for.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .cells import cell_id, cell_key, dumps_components, loads_components
from .db import DeadLetter, Store, default_url, make_engine, save_stream_offsets, write_locked
from .migrations import Migrations, create_missing, migrate
from .migrations import pending as pending_migrations
from .migrations import status as migration_status
from .reads import read_rollups
from .schema import (
    DEFAULT_TENANT,
    ID_TYPE,
    ExactDecimal,
    accounts_table,
    counters_table,
    deadletters_table,
    deal_lead_links_table,
    deals_table,
    events_table,
    fx_rates_table,
    kpi_rollups_table,
    meta_table,
    metadata,
    plugin_settings_table,
    products_table,
    reps_table,
    stream_offsets_table,
)
from .sql import bump_counters, fetch_all, in_chunks, lock_tenant, placeholders, upsert

if TYPE_CHECKING:
    from .orm import (
        AccountRow,
        Base,
        CounterRow,
        DeadLetterRow,
        DealLeadLinkRow,
        DealRow,
        EventRow,
        FxRateRow,
        KpiRollupRow,
        MetaRow,
        PluginSettingRow,
        ProductRow,
        RepRow,
        StreamOffsetRow,
    )

#: the ORM classes of earlier versions (:mod:`.orm`), imported on first use
_ORM_NAMES = frozenset({
    "AccountRow", "Base", "CounterRow", "DeadLetterRow", "DealLeadLinkRow", "DealRow", "EventRow",
    "FxRateRow", "KpiRollupRow", "MetaRow", "PluginSettingRow", "ProductRow", "RepRow",
    "StreamOffsetRow",
})


def __getattr__(name: str) -> Any:
    if name in _ORM_NAMES:
        value = getattr(import_module(".orm", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_TENANT", "ID_TYPE", "AccountRow", "Base", "CounterRow", "DealLeadLinkRow", "DealRow",
    "DeadLetter", "DeadLetterRow", "EventRow", "ExactDecimal", "FxRateRow", "KpiRollupRow",
    "MetaRow", "Migrations", "PluginSettingRow", "ProductRow", "RepRow", "Store",
    "StreamOffsetRow", "accounts_table", "bump_counters", "cell_id", "cell_key",
    "counters_table", "create_missing", "deadletters_table", "deal_lead_links_table",
    "deals_table", "default_url", "dumps_components", "events_table", "fetch_all",
    "fx_rates_table", "in_chunks", "kpi_rollups_table", "loads_components", "lock_tenant",
    "make_engine", "meta_table", "metadata", "migrate", "migration_status", "pending_migrations",
    "placeholders", "plugin_settings_table", "products_table", "read_rollups", "reps_table",
    "save_stream_offsets", "stream_offsets_table", "upsert", "write_locked",
]
