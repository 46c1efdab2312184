"""Shared fixtures: databases (SQLite and a real PostgreSQL), store, engine, CLI runner.

PostgreSQL comes from ``ATTAIN_TEST_POSTGRES_URL`` (``scripts/postgres start`` prints it). Every
test gets a database of its own, created from that URL's server and dropped afterwards, so
concurrent test runs against the same server do not see each other's data.

Without ``ATTAIN_TEST_POSTGRES_URL`` the PostgreSQL parameters are skipped, except on CI
(``CI=true``) where they fail: CI must never pass by silently not testing PostgreSQL.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from attain.core import cli as cli_module
from attain.core.engine import Engine
from attain.core.plugins import get_plugins
from attain.core.store import Store
from click.testing import Result as ClickResult
from typer.testing import CliRunner

PG_ENV = "ATTAIN_TEST_POSTGRES_URL"

# The suite decides which plugins load and where data goes; a developer's shell settings must not
# leak in (tests that need them set them with monkeypatch and reset the plugin manager).
for _var in ("ATTAIN_LOAD_PLUGINS", "ATTAIN_DISABLE_PLUGINS", "ATTAIN_DATABASE_URL"):
    os.environ.pop(_var, None)
BACKENDS = ("sqlite", "postgresql")

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "core" / "data" / "crm-sales-opportunities"


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def postgres_base_url() -> str:
    """The server URL from the environment; skips (locally) or fails (on CI) without it."""
    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        msg = (f"{PG_ENV} is not set: run `scripts/postgres start` and export {PG_ENV} "
               "with the URL it prints to run the PostgreSQL tests")
        if _on_ci():
            pytest.fail(f"{msg} (CI=true: the PostgreSQL tests must run on CI)", pytrace=False)
        pytest.skip(msg)
    return url


@contextmanager
def postgres_database(base_url: str) -> Iterator[str]:
    """A brand-new, empty database on the server of ``base_url``; dropped on exit."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    base = make_url(base_url)
    name = f"attain_t_{uuid.uuid4().hex[:20]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@contextmanager
def fresh_database(backend: str, tmp_dir: Path) -> Iterator[str]:
    """The URL of a new, empty database of ``backend`` (``sqlite`` or ``postgresql``)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_dir / f'attain-{uuid.uuid4().hex}.db'}"
    elif backend == "postgresql":
        with postgres_database(postgres_base_url()) as url:
            yield url
    else:  # pragma: no cover - a typo in a parametrization
        raise ValueError(backend)


def backend_params() -> list[Any]:
    """``params=`` for fixtures that run on every backend; PostgreSQL is marked ``postgres``."""
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]


@pytest.fixture(params=backend_params())
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a new database on the test PostgreSQL server."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database, for tests that exercise logic rather than the SQL backends."""
    return f"sqlite:///{tmp_path / 'attain.db'}"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    try:
        yield s
    finally:
        s.dispose()


@pytest.fixture
def engine(store: Store) -> Engine:
    """The engine over ``store`` with the process-wide plugins (installed entry points)."""
    return Engine(store, get_plugins())


@pytest.fixture(scope="session")
def bundled_dir() -> Path:
    """The bundled CRM Sales Opportunities data set (core/data/crm-sales-opportunities)."""
    assert (BUNDLED_DIR / "sales_pipeline.csv").is_file(), BUNDLED_DIR
    return BUNDLED_DIR


# -- the command line ----------------------------------------------------------------------------


class Cli:
    """Runs ``attain --db URL ARGS…`` in-process with typer's CliRunner.

    ``cli("kpi", "--by", "rep", "--format", "json")`` returns the click Result and, unless
    ``ok=False``, asserts the command succeeded (showing its output when it did not).
    ``cli.json(...)`` also parses stdout as JSON, with numbers as Decimal/int (never float).
    """

    def __init__(self, db_url: str) -> None:
        self.db_url = db_url
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | bytes | None = None, ok: bool = True,
                 env: dict[str, str] | None = None) -> ClickResult:
        argv = ["--db", self.db_url, *args]
        try:
            result = self.runner.invoke(cli_module.app, argv, input=input, env=env)
        finally:
            # Every invocation opens its own Store; close its connections right away
            # (PostgreSQL would otherwise keep idle connections until garbage collection).
            st = cli_module.State._store
            if st is not None:
                st.dispose()
            cli_module.State._store = None
            cli_module.State.db_url = None
        if ok:
            assert result.exit_code == 0, (
                f"`attain {' '.join(argv)}` exited {result.exit_code}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}\n"
                f"exception: {result.exception!r}"
            )
        return result

    def json(self, *args: str, **kwargs: Any) -> Any:
        result = self(*args, **kwargs)
        return load_json(result.stdout)

    def kpis(self, by: str, tenant: str | None = None) -> list[dict[str, Any]]:
        extra: Sequence[str] = ("--tenant", tenant) if tenant else ()
        return self.json("kpi", "--by", by, "--format", "json", *extra)


def load_json(text: str) -> Any:
    """JSON with exact numbers: decimals as Decimal, integers as int."""
    return json.loads(text, parse_float=Decimal)


@pytest.fixture
def cli(db_url: str) -> Cli:
    """CLI runner bound to the parametrized ``db_url`` (SQLite and PostgreSQL)."""
    return Cli(db_url)


@pytest.fixture
def make_cli() -> Callable[[str], Cli]:
    """Factory for a CLI runner on any database URL."""
    return Cli
