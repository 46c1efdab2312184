"""Shared fixtures: databases (SQLite and a real PostgreSQL), store, engine, CLI runner (the
helpers behind them are in testkit.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from attain.core.engine import Engine
from attain.core.plugins import get_plugins
from attain.core.store import Store
from testkit import BUNDLED_DIR, Cli, postgres_base_url, postgres_database
from testkit import pytest_runtest_makereport as pytest_runtest_makereport  # on CI a skip fails

# The suite decides which plugins load and where data goes; a developer's shell settings must not
# leak in (tests that need them set them with monkeypatch and reset the plugin manager).
for _var in ("ATTAIN_LOAD_PLUGINS", "ATTAIN_DISABLE_PLUGINS", "ATTAIN_DATABASE_URL"):
    os.environ.pop(_var, None)
# pytest-xdist's workers start with COLUMNS=80 and LINES=24 set; rich fixes a console's width from
# COLUMNS when the console is made (on the CLI's first import), which would pin every in-process
# command to 80 columns whatever width a test asks for (env={"COLUMNS": ...}).
for _var in ("COLUMNS", "LINES"):
    os.environ.pop(_var, None)
BACKENDS = ("sqlite", "postgresql")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``scripts/test`` runs ``-n 3 --dist loadgroup``) the tests that drive
    the real Kafka broker run one after another on one worker (they start stream workers and
    time their consumers: two at once on a small machine only make both slower), while the other
    worker runs everything else."""
    for item in items:
        if item.get_closest_marker("kafka") is not None:
            item.add_marker(pytest.mark.xdist_group("kafka"))


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


@pytest.fixture
def cli(db_url: str) -> Cli:
    """CLI runner bound to the parametrized ``db_url`` (SQLite and PostgreSQL)."""
    return Cli(db_url)


@pytest.fixture
def make_cli() -> Callable[[str], Cli]:
    """Factory for a CLI runner on any database URL."""
    return Cli


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> int:
    """The CLI's rich consoles print at a fixed 320 columns, so no table cell is cut short."""
    from attain.core import cli as cli_module
    from attain.core import cli_admin
    from rich.console import Console

    width = 320
    for module in (cli_module, cli_admin):
        monkeypatch.setattr(module, "console", Console(width=width, color_system=None))
    monkeypatch.setattr(cli_module, "err", Console(width=width, color_system=None, stderr=True))
    return width
