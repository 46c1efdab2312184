"""The core's tables are SQLAlchemy Core tables (``attain.core.store.metadata``): exactly the
schema the core's migrations build, on SQLite and PostgreSQL; the ORM classes of earlier versions
(``from attain.core.store import MetaRow``) still work, mapped onto the same tables."""

from __future__ import annotations

import datetime as dt

from attain.core.store import Store, metadata
from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool


def test_the_tables_are_the_schema_the_migrations_build(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    Store(db_url, migrations=[]).dispose()
    eng = create_engine(db_url, poolclass=NullPool)
    try:
        with eng.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    finally:
        eng.dispose()
    assert {t.name for t in metadata.sorted_tables} == {
        "accounts", "counters", "deadletters", "deal_lead_links", "deals", "events", "fx_rates",
        "kpi_rollups", "meta", "plugin_settings", "products", "reps", "stream_offsets"}


def test_the_orm_classes_of_earlier_versions_map_the_same_tables(sqlite_url: str) -> None:
    from attain.core import store as store_pkg
    from attain.core.store import DeadLetterRow, MetaRow

    assert MetaRow.__table__ is store_pkg.meta_table
    assert store_pkg.Base.metadata is metadata
    store = Store(sqlite_url, migrations=[])
    try:
        with store.session.begin() as s:
            s.add(MetaRow(tenant="t", key="k", value="v"))
        with store.connect() as conn:
            t = store_pkg.meta_table
            assert conn.execute(select(t.c.value).where(t.c.tenant == "t")).scalar() == "v"
        with store.session() as s:
            assert s.get(MetaRow, ("t", "k")).value == "v"  # type: ignore[union-attr]
        with store.transaction("t") as conn:
            conn.execute(store_pkg.deadletters_table.insert(),
                         [{"tenant": "t", "source": "s:1", "line": 1, "reason": "bad", "payload": "x",
                           "created_at": dt.datetime(2026, 1, 2, 3, 4, 5), "raw": b"\xff"}])
        [dl] = store.deadletters("t")
        assert (dl.source, dl.line, dl.reason, dl.payload, dl.raw, dl.original) == (
            "s:1", 1, "bad", "x", b"\xff", b"\xff")
        assert dl.created_at == dt.datetime(2026, 1, 2, 3, 4, 5)
        with store.session() as s:
            [row] = s.scalars(select(DeadLetterRow))
            assert (row.id, row.original) == (dl.id, b"\xff")
    finally:
        store.dispose()


def test_plugin_settings_and_counters_through_core_statements(sqlite_url: str) -> None:
    from attain.core.store import bump_counters

    store = Store(sqlite_url, migrations=[])
    try:
        store.set_plugin_enabled("t", "goals", False)
        store.set_plugin_enabled("t", "maturity", False)
        store.set_plugin_enabled("t", "maturity", True)
        assert store.disabled_plugins("t") == {"goals"}
        assert store.disabled_plugins("other") == set()
        with store.transaction("t") as conn:
            bump_counters(conn, "t", {"a": 2, "b": 1})
            bump_counters(conn, "t", {"a": 3})
        assert store.counters("t") == {"a": 5, "b": 1}
        assert store.counters("other") == {}
    finally:
        store.dispose()
