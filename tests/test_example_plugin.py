"""The example partner plugin (examples/attain-example-kpi) works as a separately installed
package: found through its entry point, its KPI shows up in `attain kpi` with the right values,
and it can be disabled per tenant like any plugin.

It must be installed first (the project's test script does it):

    pip install ./examples/attain-example-kpi
"""

from __future__ import annotations

import csv
from collections import Counter
from decimal import Decimal
from importlib import metadata
from pathlib import Path

import pytest
from testkit import Cli

DIST = "attain-example-kpi"
PLUGIN = "big_deals"
INSTALL_HINT = ("the example plugin is not installed: run "
                "`.venv/bin/pip install -e examples/attain-example-kpi` (the project's test "
                "script installs it with `pip install ./examples/attain-example-kpi`)")


def require_installed() -> metadata.Distribution:
    """The installed distribution; a missing install fails the test (never skips it)."""
    try:
        dist = metadata.distribution(DIST)
    except metadata.PackageNotFoundError:
        pytest.fail(INSTALL_HINT, pytrace=False)
    eps = [ep for ep in dist.entry_points if ep.group == "attain"]
    assert [(ep.name, ep.value) for ep in eps] == [(PLUGIN, "attain_example_kpi")]
    return dist


def big_deals_by_rep(bundled_dir: Path) -> Counter[str]:
    """Won deals with close value >= 5000, per sales agent, straight from the CSV."""
    with (bundled_dir / "sales_pipeline.csv").open(newline="", encoding="utf-8-sig") as f:
        return Counter(r["sales_agent"] for r in csv.DictReader(f)
                       if r["deal_stage"] == "Won" and Decimal(r["close_value"]) >= 5000)


def test_example_plugin_is_installed_and_listed(sqlite_url: str) -> None:
    installed = require_installed()
    listed = {p["name"]: p for p in Cli(sqlite_url).json("plugins", "list", "--format", "json")}
    assert PLUGIN in listed
    assert listed[PLUGIN]["distribution"] == DIST
    assert listed[PLUGIN]["version"] == installed.version
    assert listed[PLUGIN]["hooks"] == ["attain_register_metrics"]
    assert listed[PLUGIN]["provides"] == {"metrics": ["big_deal_count"]}


def test_big_deal_count_by_rep(cli: Cli, bundled_dir: Path) -> None:
    require_installed()
    cli("import", "crm-csv", str(bundled_dir), "--quiet")
    rows = cli.kpis("rep")
    expected = big_deals_by_rep(bundled_dir)
    assert sum(expected.values()) > 0
    for row in rows:
        assert "big_deal_count" in row, row
        assert isinstance(row["big_deal_count"], int)
        assert row["big_deal_count"] == expected[row["key"]], row["key"]
    assert {r["key"] for r in rows} >= set(expected)
    (total,) = cli.kpis("all")
    assert total["big_deal_count"] == sum(expected.values())

    # Disabled for one tenant, the KPI disappears there and nowhere else.
    cli("import", "crm-csv", str(bundled_dir), "--quiet", "--tenant", "other")
    cli("plugins", "disable", PLUGIN, "--tenant", "other")
    assert all("big_deal_count" not in r for r in cli.kpis("rep", tenant="other"))
    assert "big_deal_count" not in cli("kpi", "--by", "rep", "--format", "csv",
                                       "--tenant", "other").stdout
    assert [r["big_deal_count"] for r in cli.kpis("rep")] == [r["big_deal_count"] for r in rows]
    cli("plugins", "enable", PLUGIN, "--tenant", "other")
    assert cli.kpis("all", tenant="other")[0]["big_deal_count"] == sum(expected.values())
