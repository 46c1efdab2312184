"""The persistence layer: every SQL statement of Attain's core lives in this package.

* :mod:`.schema` — the core's tables (and :class:`ExactDecimal` for plugins' money columns);
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
"""

from .cells import cell_id, cell_key, dumps_components, loads_components
from .db import Store, default_url, make_engine, save_stream_offsets, write_locked
from .migrations import Migrations, create_missing, migrate
from .migrations import pending as pending_migrations
from .migrations import status as migration_status
from .reads import read_rollups
from .schema import (
    DEFAULT_TENANT,
    ID_TYPE,
    AccountRow,
    Base,
    CounterRow,
    DeadLetterRow,
    DealLeadLinkRow,
    DealRow,
    EventRow,
    ExactDecimal,
    KpiRollupRow,
    MetaRow,
    PluginSettingRow,
    ProductRow,
    RepRow,
    StreamOffsetRow,
)
from .sql import bump_counters, fetch_all, in_chunks, lock_tenant, placeholders, upsert

__all__ = [
    "DEFAULT_TENANT", "ID_TYPE", "AccountRow", "Base", "CounterRow", "DealLeadLinkRow", "DealRow", "DeadLetterRow",
    "EventRow", "ExactDecimal", "KpiRollupRow", "MetaRow", "Migrations", "PluginSettingRow",
    "ProductRow", "RepRow", "Store", "StreamOffsetRow", "bump_counters", "cell_id", "cell_key",
    "create_missing", "default_url", "dumps_components", "fetch_all", "in_chunks", "loads_components",
    "lock_tenant", "make_engine", "migrate", "migration_status", "pending_migrations", "placeholders",
    "read_rollups", "save_stream_offsets", "upsert", "write_locked",
]
