"""Helpers shared by every test folder: a database per test (SQLite or a real PostgreSQL), the
bundled data imported once into a SQLite template, and the ``attain`` CLI run in-process.

PostgreSQL comes from ``ATTAIN_TEST_POSTGRES_URL`` (``scripts/postgres start`` prints it). Every
test gets a database of its own, created on that URL's server and dropped afterwards, so
concurrent test runs against the same server do not see each other's data.

A missing test server (PostgreSQL, Kafka) skips its tests on a developer's machine and fails them
on CI (``CI=true``): :func:`missing_server`. CI must never pass by silently not testing something,
so on CI every skip is a failure (:func:`pytest_runtest_makereport`, used by conftest.py).
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

import pytest
from attain.core import cli as cli_module
from attain.core.engine import Engine
from attain.core.plugins import Plugins
from attain.core.store import Store
from attain.testing import CliRunner

PG_ENV = "ATTAIN_TEST_POSTGRES_URL"
BUNDLED_DIR = Path(__file__).resolve().parents[1] / "core" / "data" / "crm-sales-opportunities"


def on_ci(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the tests run on CI: ``CI`` is ``true``, ``1`` or ``yes`` (any case)."""
    env = os.environ if environ is None else environ
    return env.get("CI", "").strip().lower() in ("true", "1", "yes")


def missing_server(message: str, environ: Mapping[str, str] | None = None) -> NoReturn:
    """A server the test needs is not there: skip on a developer's machine, fail on CI."""
    if on_ci(environ):
        pytest.fail(f"{message} (CI=true: these tests must run on CI, never be skipped)", pytrace=False)
    pytest.skip(message)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """On CI a skipped test fails (whatever skipped it): nothing may pass there untested."""
    report = yield
    if report.skipped and not hasattr(report, "wasxfail") and on_ci():
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped on CI (CI=true), where every test must run: {reason}"
    return report


def postgres_base_url() -> str:
    """The server URL from the environment; skips (locally) or fails (on CI) without it."""
    url = os.environ.get(PG_ENV, "").strip()
    if not url:
        missing_server(f"{PG_ENV} is not set: run `scripts/postgres start` and export {PG_ENV} "
                       "with the URL it prints to run the PostgreSQL tests")
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


def table_rows(text: str) -> tuple[list[str], list[list[str]]]:
    """The header and the data rows of a table rich printed (its default box), cells stripped.

    A row whose cells wrap over several lines is one row: a line with an empty first cell
    continues the row above, each cell's parts joined with a space (the header likewise)."""

    def joined(first: list[str], more: list[str]) -> list[str]:
        return [" ".join(p for p in (a, b) if p) for a, b in zip(first, more, strict=True)]

    header: list[str] = []
    rows: list[list[str]] = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("┃"):
            cells = [c.strip() for c in s.strip("┃").split("┃")]
            header = joined(header, cells) if header else cells
        elif s.startswith("│"):
            cells = [c.strip() for c in s.strip("│").split("│")]
            if rows and cells[0] == "":
                rows[-1] = joined(rows[-1], cells)
            else:
                rows.append(cells)
    return header, rows


def money(v: Decimal | None) -> str:
    """How tables show an amount: 1,234.50, or – for null."""
    return "–" if v is None else f"{v:,.2f}"


def plain(v: Decimal | None) -> str:
    """How tables show a count or a ratio: 1,234 / 0.6315 / – (null)."""
    if v is None:
        return "–"
    return f"{int(v):,}" if v == v.to_integral_value() else format(v.normalize(), "f")
