"""Fixtures of the forecast plugin's tests: the bundled data imported once per backend into a
template (copied per test; database tests run on SQLite and on PostgreSQL), a CLI over the full
app, and the bundled CSV read with plain Python so figures can be checked independently."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from attain.core.plugins import get_plugins
from backend_data import BundledTemplates, backend, bundled_templates

from forecast.helpers import DATA, CsvDeal, ForecastCli, parse_date

__all__ = ["backend", "bundled_templates"]


@pytest.fixture(scope="session")
def csv_deals() -> list[CsvDeal]:
    with (DATA / "products.csv").open(newline="", encoding="utf-8-sig") as f:
        names = {"".join(r["product"].split()).casefold(): r["product"] for r in csv.DictReader(f)}
    with (DATA / "sales_teams.csv").open(newline="", encoding="utf-8-sig") as f:
        teams = {r["sales_agent"].strip(): r["manager"].strip() for r in csv.DictReader(f)}
    with (DATA / "sales_pipeline.csv").open(newline="", encoding="utf-8-sig") as f:
        return [CsvDeal(r["opportunity_id"], r["sales_agent"].strip(),
                        teams.get(r["sales_agent"].strip()),
                        names.get("".join(r["product"].split()).casefold(), r["product"]),
                        r["account"].strip(), r["deal_stage"], parse_date(r["engage_date"]),
                        parse_date(r["close_date"]),
                        r["close_value"].strip() or None)
                for r in csv.DictReader(f)]


@pytest.fixture
def bundled_url(backend: str, bundled_templates: BundledTemplates, tmp_path: Path) -> Iterator[str]:
    with bundled_templates.copy(backend, "forecast", get_plugins, tmp_path) as url:
        yield url


@pytest.fixture
def fcli(bundled_url: str) -> ForecastCli:
    return ForecastCli(bundled_url)


@pytest.fixture(scope="session")
def sqlite_template(bundled_templates: BundledTemplates, tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[str]:
    """One SQLite copy of the bundled data shared by the read-only tests of a session."""
    with bundled_templates.copy("sqlite", "forecast", get_plugins,
                                tmp_path_factory.mktemp("forecast-ro")) as url:
        yield url


@pytest.fixture
def ro_cli(sqlite_template: str) -> ForecastCli:
    """A CLI over the shared SQLite copy: only for commands run with --no-save (or that read)."""
    return ForecastCli(sqlite_template)


@pytest.fixture
def wide_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Error lines printed at 320 columns, so one line stays one line."""
    from attain.core import cli_kit
    from rich.console import Console

    monkeypatch.setattr(cli_kit, "err", Console(width=320, color_system=None, stderr=True))
