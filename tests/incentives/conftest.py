"""Fixtures of the incentives plugin's tests.

* ``plugins`` – a plugin manager with only the incentives plugin (and the CSV connector), so
  these tests do not depend on other plugins being importable mid-development;
* ``engine`` / ``svc`` – an engine and the incentives service over a fresh database;
* ``bundled_url`` – the bundled data imported once per backend into a template, copied per test;

Every database fixture runs on SQLite and on the real PostgreSQL server (``backend``).
* ``csv_deals`` – the bundled CSV read with plain Python (for independent expected payouts);
* ``ref_book`` – its won deals and roster for the reference implementation (reference.py);
* ``icli`` – the ``attain`` CLI with the incentives commands, on the bundled copy.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from attain.core import cli as cli_module
from attain.core import hookimpl
from attain.core.engine import Engine
from attain.core.plugins import Plugins, get_plugins, reset_plugins
from attain.core.store import Store
from attain.plugins.incentives import live
from attain.plugins.incentives.service import Incentives
from backend_data import BundledTemplates, backend, bundled_templates, empty_database

from . import reference as ref
from .incentives_helpers import DATA, CsvDeal, make_plugins, parse_date

__all__ = ["backend", "bundled_templates"]  # fixtures of backend_data, found here by pytest


@pytest.fixture
def plugins() -> Plugins:
    return make_plugins()


@pytest.fixture(autouse=True)
def _fresh_live_books() -> Iterator[None]:
    live.reset()
    yield
    live.reset()


@pytest.fixture
def store(backend: str, tmp_path: Path) -> Iterator[Store]:
    with empty_database(backend, tmp_path) as url:
        s = Store(url)
        try:
            yield s
        finally:
            s.dispose()


@pytest.fixture
def engine(store: Store, plugins: Plugins) -> Engine:
    return Engine(store, plugins)


@pytest.fixture
def svc(engine: Engine) -> Incentives:
    return Incentives(engine, "default")


@pytest.fixture(scope="session")
def csv_deals() -> list[CsvDeal]:
    with (DATA / "sales_pipeline.csv").open(newline="", encoding="utf-8-sig") as f:
        return [CsvDeal(r["opportunity_id"], r["sales_agent"].strip(),
                        r["product"].strip(), r["account"].strip() or None,
                        r["deal_stage"], parse_date(r["engage_date"]),
                        parse_date(r["close_date"]), r["close_value"].strip())
                for r in csv.DictReader(f)]


@pytest.fixture(scope="session")
def ref_book(csv_deals: list[CsvDeal], csv_teams: dict[str, str]) -> ref.Book:
    """The bundled won deals and roster, for the reference implementation of the plans."""
    deals = ref.won_deals(csv_deals)
    assert len(deals) == 4238
    return ref.Book(deals, csv_teams)


@pytest.fixture(scope="session")
def csv_teams() -> dict[str, str]:
    with (DATA / "sales_teams.csv").open(newline="", encoding="utf-8-sig") as f:
        return {r["sales_agent"].strip(): r["manager"].strip() for r in csv.DictReader(f)}


@pytest.fixture
def bundled_url(backend: str, bundled_templates: BundledTemplates, tmp_path: Path
                ) -> Iterator[str]:
    with bundled_templates.copy(backend, "incentives", make_plugins, tmp_path) as url:
        yield url


@pytest.fixture
def bundled_svc(bundled_url: str, plugins: Plugins) -> Iterator[Incentives]:
    store = Store(bundled_url)
    try:
        yield Incentives(Engine(store, plugins), "default")
    finally:
        store.dispose()


@pytest.fixture
def icli(bundled_url: str, monkeypatch: pytest.MonkeyPatch, make_cli) -> Iterator:  # type: ignore[no-untyped-def]
    """The CLI (only the crm_csv and incentives plugins loaded) on a copy of the bundled data."""
    monkeypatch.setenv("ATTAIN_LOAD_PLUGINS", "crm_csv,incentives")
    reset_plugins()
    app = cli_module.app
    if not any(g.name == "commission" for g in app.registered_groups):
        get_plugins().register_commands(app)
    try:
        yield make_cli(bundled_url)
    finally:
        reset_plugins()


@pytest.fixture
def notes(plugins: Plugins) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    """Notifications sent through ``attain_notify``."""
    got: list[tuple[str, dict]] = []  # type: ignore[type-arg]

    class Catch:
        @hookimpl
        def attain_notify(self, tenant: str, kind: str, payload: dict) -> None:  # type: ignore[type-arg]
            got.append((kind, payload))

    plugins.register(Catch(), name="catch-notifications")
    return got
