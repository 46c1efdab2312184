"""Fixtures of the goals plugin's tests: the bundled data imported once into a SQLite template
(copied per test), a CLI runner with the plugins' commands, and the CSV read with plain Python
so tests can check figures independently of the engine."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from attain.core.engine import Engine
from attain.core.plugins import get_plugins
from attain.core.store import Store
from testkit import copy_sqlite, import_bundled, postgres_base_url, postgres_database

from goals.goals_helpers import CsvData, CsvDeal, GoalsCli, parse_date

DATA = Path(__file__).resolve().parents[2] / "core" / "data" / "crm-sales-opportunities"


@pytest.fixture(scope="session")
def csv_data() -> CsvData:
    with (DATA / "sales_pipeline.csv").open(newline="", encoding="utf-8-sig") as f:
        deals = [CsvDeal(r["opportunity_id"], r["sales_agent"].strip(), r["deal_stage"],
                         parse_date(r["engage_date"]), parse_date(r["close_date"]),
                         Decimal(r["close_value"]) if r["close_value"].strip() else None)
                 for r in csv.DictReader(f)]
    with (DATA / "sales_teams.csv").open(newline="", encoding="utf-8-sig") as f:
        teams = {r["sales_agent"].strip(): (r["manager"].strip(), r["regional_office"].strip())
                 for r in csv.DictReader(f)}
    return CsvData(deals, teams)


@pytest.fixture(scope="session")
def bundled_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled data imported once (SQLite file), copied for each test that needs it."""
    return import_bundled(tmp_path_factory.mktemp("goals-template") / "bundled.db", get_plugins())


@pytest.fixture
def bundled_url(bundled_template: Path, tmp_path: Path) -> str:
    return copy_sqlite(bundled_template, tmp_path / "attain.db")


@pytest.fixture
def bundled_engine(bundled_url: str) -> Iterator[Engine]:
    store = Store(bundled_url)
    try:
        yield Engine(store, get_plugins())
    finally:
        store.dispose()


@pytest.fixture
def goals_cli(bundled_url: str) -> GoalsCli:
    return GoalsCli(bundled_url)


@pytest.fixture
def empty_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'empty.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A brand-new database on the test PostgreSQL server (dropped afterwards)."""
    with postgres_database(postgres_base_url()) as url:
        yield url
