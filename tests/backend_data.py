"""Databases for the plugins' tests on every backend: empty, or holding the bundled data set.

The goals and incentives suites run every database test on SQLite and on the real PostgreSQL
server (``ATTAIN_TEST_POSTGRES_URL``). Importing the bundled data (8,800 opportunities) takes
seconds, so it is imported once per session, backend and plugin set into a *template*:

* SQLite: a file, copied with SQLite's online backup for every test;
* PostgreSQL: a database on the test server, cloned for every test with
  ``CREATE DATABASE … TEMPLATE …`` and dropped after it (templates are dropped at the end of
  the session).

Every test gets a database of its own either way, so tests never see each other's writes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from attain.core import cli as cli_module
from attain.core.engine import Engine
from attain.core.plugins import Plugins
from attain.core.store import Store
from testkit import BUNDLED_DIR, copy_sqlite, import_bundled, postgres_base_url, postgres_database

BACKENDS = ("sqlite", "postgresql")


def backend_params() -> list[Any]:
    """``params=`` of a backend fixture; the PostgreSQL case is marked ``postgres``."""
    return [pytest.param("sqlite", id="sqlite"),
            pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)]


def _admin(base_url: str) -> Any:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    return create_engine(base_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


def _execute(base_url: str, sql: str) -> None:
    from sqlalchemy import text

    admin = _admin(base_url)
    try:
        with admin.connect() as conn:
            conn.execute(text(sql))
    finally:
        admin.dispose()


def _with_database(base_url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


@contextmanager
def empty_database(backend: str, tmp_dir: Path) -> Iterator[str]:
    """The URL of a new, empty database of ``backend``; a PostgreSQL one is dropped on exit."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_dir / f'attain-{uuid.uuid4().hex[:12]}.db'}"
    elif backend == "postgresql":
        with postgres_database(postgres_base_url()) as url:
            yield url
    else:  # pragma: no cover - a typo in a parametrization
        raise ValueError(backend)


class BundledTemplates:
    """The bundled data imported once per (backend, plugin set), copied per test."""

    def __init__(self, tmp_dir: Path) -> None:
        self.tmp_dir = tmp_dir
        self._sqlite: dict[str, Path] = {}
        self._postgres: dict[str, str] = {}  # key → template database name
        self._pg_base: str | None = None

    def _sqlite_template(self, key: str, plugins: Callable[[], Plugins]) -> Path:
        if key not in self._sqlite:
            self._sqlite[key] = import_bundled(self.tmp_dir / f"bundled-{key}.db", plugins())
        return self._sqlite[key]

    def _postgres_template(self, key: str, plugins: Callable[[], Plugins]) -> tuple[str, str]:
        base = postgres_base_url()
        if key not in self._postgres:
            name = f"attain_tpl_{key}_{uuid.uuid4().hex[:12]}"
            _execute(base, f'CREATE DATABASE "{name}"')
            self._pg_base = base
            self._postgres[key] = name
            store = Store(_with_database(base, name))
            try:
                cli_module.import_source(Engine(store, plugins()), "crm-csv", str(BUNDLED_DIR),
                                         "default", quiet=True)
            finally:
                store.dispose()  # a template must have no open connection when it is cloned
        return base, self._postgres[key]

    @contextmanager
    def copy(self, backend: str, key: str, plugins: Callable[[], Plugins],
             tmp_dir: Path) -> Iterator[str]:
        """A database of its own holding the bundled data, imported with ``plugins()``."""
        if backend == "sqlite":
            yield copy_sqlite(self._sqlite_template(key, plugins),
                              tmp_dir / f"bundled-{uuid.uuid4().hex[:12]}.db")
            return
        if backend != "postgresql":  # pragma: no cover - a typo in a parametrization
            raise ValueError(backend)
        base, template = self._postgres_template(key, plugins)
        name = f"attain_t_{uuid.uuid4().hex[:20]}"
        _execute(base, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        try:
            yield _with_database(base, name)
        finally:
            _execute(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        if self._pg_base is not None:
            for name in self._postgres.values():
                _execute(self._pg_base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._postgres.clear()


@pytest.fixture(scope="session")
def bundled_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BundledTemplates]:
    t = BundledTemplates(tmp_path_factory.mktemp("bundled-templates"))
    try:
        yield t
    finally:
        t.close()


@pytest.fixture(params=backend_params())
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgresql``: every test using it runs on both."""
    return str(request.param)
