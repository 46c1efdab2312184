"""The example plugin tested the way a partner tests theirs: with ``attain.testing``.

Run: ``pytest examples/attain-example-kpi/tests`` (Attain and this plugin installed).
"""

from decimal import Decimal

import attain_example_kpi
import pytest
from attain.testing import assert_order_independent, deal


@pytest.fixture
def attain_plugins_under_test():
    """The plugin under test, for the fixtures of Attain's test kit (``attain.testing``, loaded
    by pytest through its ``pytest11`` entry point once Attain is installed). A plugin with
    several test modules puts this fixture in its ``conftest.py``."""
    return {"big_deals": attain_example_kpi}


def test_big_deal_count(attain_engine):
    result = attain_engine.process_events([
        deal("D1", status="won", amount="7500"),         # big
        deal("D2", status="won", amount="4999.99"),      # just below 5,000
        deal("D3", status="lost", amount="9000"),        # lost deals never count
        deal("D4", status="open", amount="12000"),
    ])
    assert (result.accepted, result.rejected) == (4, 0)
    (row,) = attain_engine.kpis("default", "all")
    assert row["big_deal_count"] == 1
    assert attain_engine.plugins.errors == {}


def test_a_newer_version_retracts_the_old_one(attain_engine):
    attain_engine.process_events([deal("D1", 1, status="won", amount="8000"),
                                  deal("D1", 2, status="lost", amount="8000")])
    (row,) = attain_engine.kpis("default", "all")
    assert row["big_deal_count"] == 0


def test_big_deal_count_is_order_independent(attain_plugins, tmp_path):
    events = [deal(f"D{i}", v, status="won" if (i + v) % 2 else "open",
                   amount=str(Decimal(2500) * v), owner=["Ann", "Bob"][i % 2])
              for i in range(6) for v in (1, 2, 3)]
    # won versions: 2,500 / 5,000 / 7,500 by version; the latest version of each deal decides
    want = sum(1 for i in range(6) if (i + 3) % 2 and 2500 * 3 >= 5000)
    got = assert_order_independent(
        events, lambda engine: {r["key"]: r["big_deal_count"] for r in engine.kpis("default", "rep")},
        plugins=attain_plugins, directory=tmp_path)
    assert sum(got.values()) == want


def test_the_kpi_column_through_the_command_line(attain_cli, attain_engine):
    attain_engine.process_events([deal("D1", status="won", amount="6000", owner="Ann")])
    rows = attain_cli.json("kpi", "--by", "rep", "--format", "json")
    assert [(r["key"], r["big_deal_count"]) for r in rows] == [("Ann", 1)]
