"""Fixtures of the goals plugin's tests: the bundled data imported once into a SQLite template
(copied per test), a CLI runner with the plugins' commands, and the CSV read with plain Python
so tests can check figures independently of the engine."""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from attain.core import cli as cli_module
from attain.core.engine import Engine
from attain.core.plugins import get_plugins
from attain.core.store import Store

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
    path = tmp_path_factory.mktemp("goals-template") / "bundled.db"
    store = Store(f"sqlite:///{path}")
    try:
        cli_module.import_source(Engine(store, get_plugins()), "crm-csv", str(DATA), "default",
                                 quiet=True)
    finally:
        store.dispose()
    return path


@pytest.fixture
def bundled_url(bundled_template: Path, tmp_path: Path) -> str:
    dst = tmp_path / "attain.db"
    src_conn = sqlite3.connect(bundled_template)
    dst_conn = sqlite3.connect(dst)
    try:
        src_conn.backup(dst_conn)
    finally:
        src_conn.close()
        dst_conn.close()
    return f"sqlite:///{dst}"


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


PG_ENV = "ATTAIN_TEST_POSTGRES_URL"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A brand-new database on the test PostgreSQL server (dropped afterwards). Skipped without
    ``ATTAIN_TEST_POSTGRES_URL`` locally; a failure on CI (CI=true), like the core's tests."""
    import os
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    base_url = os.environ.get(PG_ENV, "").strip()
    if not base_url:
        msg = f"{PG_ENV} is not set (scripts/postgres start prints the URL)"
        if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
            pytest.fail(f"{msg}; CI=true: the PostgreSQL tests must run", pytrace=False)
        pytest.skip(msg)
    base = make_url(base_url)
    name = f"attain_goals_{uuid.uuid4().hex[:16]}"
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
