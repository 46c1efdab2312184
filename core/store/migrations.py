"""Schema migrations of the core and of every plugin (Alembic).

The core's revisions live in ``attain/core/migrations/versions`` and are recorded in
``alembic_version``. A plugin with tables ships its own folder of Alembic revision files and
registers it through ``attain_register_migrations``::

    from pathlib import Path
    from attain.core import Migrations, hookimpl

    @hookimpl
    def attain_register_migrations(register):
        register(Migrations("goals", Path(__file__).parent / "migrations"))

Each plugin's revisions form their own history, recorded in their own version table
(``alembic_version_<name>``), so installing, upgrading or removing a plugin never touches the
core's history or another plugin's. :class:`attain.core.store.Store` runs the core's migrations
and then every loaded plugin's, on SQLite and PostgreSQL alike; a database already at every head
costs one small query per migration set. A plugin's first revision should create its tables
only where they do not exist (:func:`create_missing`), so databases whose tables an older version
created with ``create_all`` are adopted.

Write a revision by hand or with ``alembic revision`` against a scratch database; each file has
``revision``, ``down_revision`` (None for the first), ``upgrade()`` and ``downgrade()``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Connection, Engine

CORE_VERSIONS = Path(__file__).resolve().parents[1] / "migrations" / "versions"
SCRIPT_LOCATION = CORE_VERSIONS.parent


@dataclass(frozen=True)
class Migrations:
    """A plugin's migration set: ``name`` (unique; the version table is
    ``alembic_version_<name>``) and ``versions``, the folder of its Alembic revision files."""

    name: str
    versions: Path
    description: str = ""

    @property
    def version_table(self) -> str:
        return "alembic_version" if self.name == "core" else f"alembic_version_{self.name}"


CORE = Migrations("core", CORE_VERSIONS, "the core's tables")

_heads: dict[Path, tuple[str, ...]] = {}
_heads_lock = threading.Lock()


def _config(m: Migrations, conn: Connection | None = None):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", str(m.versions))
    cfg.attributes["version_table"] = m.version_table
    if conn is not None:
        cfg.attributes["connection"] = conn
    return cfg


def heads(m: Migrations) -> tuple[str, ...]:
    """The newest revision(s) of a migration set (read once per process)."""
    with _heads_lock:
        h = _heads.get(m.versions)
        if h is None:
            from alembic.script import ScriptDirectory

            h = _heads[m.versions] = tuple(sorted(ScriptDirectory.from_config(_config(m)).get_heads()))
        return h


def current(conn: Connection, m: Migrations) -> tuple[str, ...]:
    """The revision(s) the database is at for a migration set (empty: never migrated)."""
    from alembic.runtime.migration import MigrationContext

    ctx = MigrationContext.configure(conn, opts={"version_table": m.version_table})
    return tuple(sorted(ctx.get_current_heads()))


def upgrade(engine: Engine, m: Migrations) -> None:
    """Bring one migration set to its head (nothing to do costs one query)."""
    from alembic import command

    with engine.begin() as conn:
        if current(conn, m) == heads(m):
            return
        command.upgrade(_config(m, conn), "heads")


_REVISION = re.compile(r"^revision(?:\s*:\s*[\w\[\], |]+)?\s*=\s*['\"]([^'\"]+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision(?:\s*:\s*[\w\[\], |]+)?\s*=\s*(.+)$", re.M)
_QUOTED = re.compile(r"['\"]([^'\"]+)['\"]")


def file_heads(m: Migrations) -> tuple[str, ...] | None:
    """The newest revision(s) of a migration set read from its files' ``revision`` and
    ``down_revision`` lines without Alembic (None when a file does not state them plainly)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in m.versions.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        rev, down = _REVISION.search(text), _DOWN.search(text)
        if rev is None or down is None:
            if path.name == "__init__.py":
                continue
            return None
        revisions.add(rev.group(1))
        parents.update(_QUOTED.findall(down.group(1)))
    return tuple(sorted(revisions - parents)) if revisions else None


def is_current(engine: Engine, sets: Iterable[Migrations]) -> bool:
    """Whether the database is at the head of every set, checked with one plain query per set
    and the revision files' text (no Alembic import: the fast path of every command's start).
    False when in doubt (a version table missing, a file Alembic must read)."""
    sets = list(sets)
    wanted = [file_heads(m) for m in sets]
    if any(w is None for w in wanted):
        return False
    try:
        with engine.connect() as conn:
            for m, want in zip(sets, wanted, strict=True):
                got = conn.exec_driver_sql(f"SELECT version_num FROM {m.version_table}").fetchall()
                if tuple(sorted(r[0] for r in got)) != want:
                    return False
    except Exception:  # no version table yet (a new database, a new plugin): Alembic decides
        return False
    return True


def migrate(engine: Engine, plugins: Iterable[Migrations] = ()) -> None:
    """The core's migrations, then each plugin's, in the order given (nothing to do when the
    database is current: one query per set, see :func:`is_current`)."""
    plugins = list(plugins)
    if is_current(engine, [CORE, *plugins]):
        return
    upgrade(engine, CORE)
    for m in plugins:
        upgrade(engine, m)


def pending(engine: Engine, plugins: Iterable[Migrations] = ()) -> list[str]:
    """The names of the migration sets (``core`` first, then ``plugins``) whose database
    revision is not their newest: empty when the schema is current (``/readyz``)."""
    sets = [CORE, *plugins]
    with engine.connect() as conn:
        return [m.name for m in sets if current(conn, m) != heads(m)]


def status(engine: Engine, plugins: Iterable[Migrations] = ()) -> list[dict[str, object]]:
    """Each migration set with its database revision and its newest (``attain db upgrade``)."""
    sets = [CORE, *plugins]
    with engine.connect() as conn:
        return [{"name": m.name, "current": list(current(conn, m)), "head": list(heads(m)),
                 "description": m.description} for m in sets]


def create_missing(conn: Connection, metadata: MetaData) -> None:
    """Create the tables of ``metadata`` that do not exist yet (a plugin's first revision)."""
    have = set(inspect(conn).get_table_names())
    metadata.create_all(conn, tables=[t for t in metadata.sorted_tables if t.name not in have])
