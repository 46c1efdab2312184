"""Fixtures of the goals plugin's tests: the bundled data imported once per backend into a
template (copied per test; every database test runs on SQLite and on PostgreSQL), a CLI runner
with the plugins' commands, and the CSV read with plain Python so tests can check figures
independently of the engine."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from attain.core.engine import Engine
from attain.core.plugins import get_plugins
from attain.core.store import Store
from backend_data import BundledTemplates, backend, bundled_templates, empty_database

from goals.goals_helpers import CsvData, CsvDeal, GoalsCli, parse_date
from goals.webhook import Hook

__all__ = ["backend", "bundled_templates"]  # fixtures of backend_data, found here by pytest

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


@pytest.fixture
def bundled_url(backend: str, bundled_templates: BundledTemplates, tmp_path: Path
                ) -> Iterator[str]:
    """A database of this test's own holding the bundled data (imported with every installed
    plugin), on SQLite and on PostgreSQL."""
    with bundled_templates.copy(backend, "goals", get_plugins, tmp_path) as url:
        yield url


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
def empty_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A new, empty database (SQLite file or PostgreSQL database) of this test's own."""
    with empty_database(backend, tmp_path) as url:
        yield url


@pytest.fixture
def hook() -> Iterator[Hook]:
    """A local webhook receiver (a real HTTP server), closed after the test."""
    h = Hook()
    try:
        yield h
    finally:
        h.close()
