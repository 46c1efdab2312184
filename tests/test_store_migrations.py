"""Plugin tables are migrated like the core's: each plugin's Alembic revisions, in a version table
of its own, on SQLite and PostgreSQL; tables an older version created with create_all are
adopted; a plugin registered at run time brings its own migrations."""

from __future__ import annotations

from pathlib import Path

from attain.core import Migrations, Plugins, Store, hookimpl
from attain.core.store import migrations as store_migrations
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

REVISION = '''"""acme notes

Revision ID: acme_0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "acme_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("acme_notes", sa.Column("tenant", sa.String(100), primary_key=True),
                    sa.Column("note", sa.Text()))


def downgrade():
    op.drop_table("acme_notes")
'''


def versions(url: str) -> dict[str, list[str]]:
    eng = create_engine(url, poolclass=NullPool)
    try:
        names = inspect(eng).get_table_names()
        out = {}
        with eng.connect() as conn:
            for t in sorted(n for n in names if n.startswith("alembic_version")):
                out[t] = sorted(r[0] for r in conn.execute(text(f"SELECT version_num FROM {t}")))
        return out
    finally:
        eng.dispose()


def test_a_new_store_migrates_the_core_and_every_plugin(db_url: str) -> None:
    Store(db_url).dispose()
    assert versions(db_url) == {"alembic_version": ["0008"],
                                "alembic_version_api": ["api_0001"],
                                "alembic_version_forecast": ["forecast_0001"],
                                "alembic_version_goals": ["goals_0001"],
                                "alembic_version_incentives": ["incentives_0001"],
                                "alembic_version_maturity": ["maturity_0001"]}
    eng = create_engine(db_url, poolclass=NullPool)
    tables = set(inspect(eng).get_table_names())
    eng.dispose()
    assert {"goals_goals", "goals_status", "incentives_accruals", "incentives_plan_versions",
            "maturity_answers", "maturity_assessments", "forecast_runs", "forecast_figures",
            "api_tokens"} <= tables
    Store(db_url).dispose()  # at head: nothing to do, nothing changes
    assert versions(db_url)["alembic_version_goals"] == ["goals_0001"]


def test_tables_created_by_an_older_version_are_adopted(sqlite_url: str) -> None:
    from attain.plugins.goals.storage import GoalsBase

    Store(sqlite_url, migrations=[]).dispose()  # the core only, as before plugin migrations
    eng = create_engine(sqlite_url, poolclass=NullPool)
    GoalsBase.metadata.create_all(eng)
    with eng.begin() as conn:
        conn.execute(text("INSERT INTO goals_config (tenant, key, value) VALUES ('t', 'k', 'v')"))
    eng.dispose()
    Store(sqlite_url).dispose()
    assert versions(sqlite_url)["alembic_version_goals"] == ["goals_0001"]
    eng = create_engine(sqlite_url, poolclass=NullPool)
    with eng.connect() as conn:
        assert conn.execute(text("SELECT value FROM goals_config")).scalar() == "v"
    eng.dispose()


def test_a_partners_plugin_ships_its_own_migrations(db_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "acme_migrations"
    folder.mkdir()
    (folder / "0001_acme_notes.py").write_text(REVISION, encoding="utf-8")

    class Acme:
        @hookimpl
        def attain_register_migrations(self, register):  # type: ignore[no-untyped-def]
            register(Migrations("acme", folder))

    plugins = Plugins(load_entry_points=False)
    plugins.register(Acme(), "acme")
    assert list(plugins.migrations) == ["acme"]
    assert store_migrations.heads(plugins.migrations["acme"]) == ("acme_0001",)
    store = Store(db_url, migrations=plugins.migrations.values())
    try:
        with store.transaction("t1") as conn:
            conn.execute(text("INSERT INTO acme_notes (tenant, note) VALUES ('t1', 'hello')"))
        with store.connect() as conn:
            assert conn.execute(text("SELECT note FROM acme_notes")).scalar() == "hello"
    finally:
        store.dispose()
    assert versions(db_url)["alembic_version_acme"] == ["acme_0001"]
    assert versions(db_url)["alembic_version"] == ["0008"]


def test_the_fast_schema_check_agrees_with_alembic(db_url: str, tmp_path: Path) -> None:
    """Every command's start checks the schema without Alembic (revision files' text, one query
    per version table): it must name the same heads as Alembic and say "current" only when
    Alembic would have nothing to do."""
    import subprocess
    import sys

    from attain.core.plugins import get_plugins

    folder = tmp_path / "acme_migrations"
    folder.mkdir()
    (folder / "0001_acme_notes.py").write_text(REVISION, encoding="utf-8")
    sets = [store_migrations.CORE, *get_plugins().migrations.values(), Migrations("acme", folder)]
    for m in sets:
        assert store_migrations.file_heads(m) == store_migrations.heads(m), m.name

    eng = create_engine(db_url, poolclass=NullPool)
    try:
        assert not store_migrations.is_current(eng, sets)  # a new database: no version tables
        Store(db_url, migrations=sets[1:]).dispose()
        assert store_migrations.is_current(eng, sets)
        assert store_migrations.pending(eng, sets[1:]) == []
        with eng.begin() as conn:  # as if the maturity plugin had just been installed
            conn.execute(text("DELETE FROM alembic_version_maturity"))
        assert not store_migrations.is_current(eng, sets)
        assert store_migrations.pending(eng, sets[1:]) == ["maturity"]
    finally:
        eng.dispose()
    Store(db_url).dispose()  # Alembic adopts the plugin's tables again
    assert versions(db_url)["alembic_version_maturity"] == ["maturity_0001"]

    # Opening a current database imports no Alembic at all.
    code = ("import sys; from attain.core.store import Store; Store(sys.argv[1]).dispose(); "
            "print('alembic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, db_url], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_revision_file_the_fast_check_cannot_read_leaves_it_to_alembic(tmp_path: Path) -> None:
    folder = tmp_path / "odd_migrations"
    folder.mkdir()
    (folder / "0001_odd.py").write_text("revision = make_revision_id()\ndown_revision = None\n",
                                        encoding="utf-8")
    assert store_migrations.file_heads(Migrations("odd", folder)) is None
    eng = create_engine(f"sqlite:///{tmp_path / 'odd.db'}", poolclass=NullPool)
    try:
        assert not store_migrations.is_current(eng, [store_migrations.CORE, Migrations("odd", folder)])
    finally:
        eng.dispose()
