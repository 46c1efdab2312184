"""Helpers shared by every test folder: a database per test (SQLite or a real PostgreSQL), the
bundled data imported once into a SQLite template, and the ``attain`` CLI run in-process.

PostgreSQL comes from ``ATTAIN_TEST_POSTGRES_URL`` (``scripts/postgres start`` prints it). Every
test gets a database of its own, created on that URL's server and dropped afterwards, so
concurrent test runs against the same server do not see each other's data. Without the variable
the PostgreSQL tests are skipped, except on CI (``CI=true``) where they fail: CI must never pass
by silently not testing PostgreSQL.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from attain.core import cli as cli_module
from attain.core.engine import Engine
from attain.core.plugins import Plugins
from attain.core.store import Store
from attain.testing import CliRunner

PG_ENV = "ATTAIN_TEST_POSTGRES_URL"
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


def import_bundled(path: Path, plugins: Plugins) -> Path:
    """Import the bundled data set into a new SQLite file at ``path`` (a template to copy)."""
    store = Store(f"sqlite:///{path}")
    try:
        cli_module.import_source(Engine(store, plugins), "crm-csv", str(BUNDLED_DIR), "default",
                                 quiet=True)
    finally:
        store.dispose()
    return path


def copy_sqlite(src: Path, dst: Path) -> str:
    """Copy the SQLite database ``src`` to ``dst`` (online backup); returns the URL of the copy."""
    src_conn = sqlite3.connect(src)
    dst_conn = sqlite3.connect(dst)
    try:
        src_conn.backup(dst_conn)
    finally:
        src_conn.close()
        dst_conn.close()
    return f"sqlite:///{dst}"


class Cli(CliRunner):
    """``attain --db URL ARGS…`` in-process: the plugin test kit's runner
    (:class:`attain.testing.CliRunner`) over the full application (every plugin's commands)."""

    def kpis(self, by: str, tenant: str | None = None) -> list[dict[str, Any]]:
        extra: Sequence[str] = ("--tenant", tenant) if tenant else ()
        return self.json("kpi", "--by", by, "--format", "json", *extra)


def load_json(text: str) -> Any:
    """JSON with exact numbers: decimals as Decimal, integers as int."""
    return json.loads(text, parse_float=Decimal)
