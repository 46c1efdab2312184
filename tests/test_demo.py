"""`attain demo`: the bundled data set imported into a fresh database in the user's data directory
(or --db), then the leaderboard, the company KPIs and the regions, as a table and as JSON, with
every figure computed from the CSV files by tests/reference.py."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from reference import DEAL_KPIS, bundled_deals, bundled_event_count, bundled_ref, reference_kpis
from testkit import Cli, money, plain, table_rows

WANT = reference_kpis(bundled_deals(), bundled_ref())
IMPORTED = {"accepted": bundled_event_count(), "duplicates": 0, "stale": 0, "conflicts": 0, "rejected": 0}
MONEY = {"won_revenue", "avg_deal_size", "pipeline_value"}


def deal_kpis(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ["key", *DEAL_KPIS]}


@pytest.fixture
def data_home(tmp_path: Path) -> dict[str, str]:
    """An isolated user data directory (platformdirs reads XDG_DATA_HOME)."""
    return {"XDG_DATA_HOME": str(tmp_path / "data")}


def test_demo_json(data_home: dict[str, str]) -> None:
    cli = Cli(None)  # no --db: the demo database in the data directory
    db = Path(data_home["XDG_DATA_HOME"]) / "attain" / "demo.db"
    for _ in range(2):  # each run starts from a fresh database
        out = cli.json("demo", "--format", "json", env=data_home)
        assert out["database"] == f"sqlite:///{db}" and db.is_file()
        assert out["import"] == IMPORTED
        assert isinstance(out["seconds"], Decimal) and out["seconds"] >= 0
        assert deal_kpis(out["summary"]) == deal_kpis(WANT["all"][0])
        assert [deal_kpis(r) for r in out["regions"]] == [deal_kpis(r) for r in WANT["region"]]
        assert [deal_kpis(r) for r in out["leaderboard"]] == [deal_kpis(r) for r in WANT["rep"]]
    kept = cli.json("demo", "--format", "json", "--keep", env=data_home)  # adds to the same one
    assert kept["import"] == {**IMPORTED, "accepted": 0, "duplicates": IMPORTED["accepted"]}
    assert deal_kpis(kept["summary"]) == deal_kpis(WANT["all"][0])


def test_demo_into_a_given_database(cli: Cli, data_home: dict[str, str]) -> None:
    out = cli.json("demo", "--format", "json", env=data_home)
    assert out["database"] == cli.db_url and out["import"] == IMPORTED
    assert not (Path(data_home["XDG_DATA_HOME"]) / "attain").exists()
    assert [deal_kpis(r) for r in cli.kpis("rep")] == [deal_kpis(r) for r in WANT["rep"]]


def test_demo_table(data_home: dict[str, str], wide: int) -> None:
    result = Cli(None)("demo", env=data_home)
    db = Path(data_home["XDG_DATA_HOME"]) / "attain" / "demo.db"
    imported, into = result.stderr.strip().splitlines()
    summary = ", ".join(f"{k} {v}" for k, v in IMPORTED.items())
    assert imported.startswith(f"imported {summary} in ") and imported.endswith(" s")
    assert into == f"into sqlite:///{db}"  # on a line of its own: a long path never splits a figure
    out = result.stdout
    board_text, company_text = out.split("Company KPIs")
    assert board_text.splitlines()[0].strip() == "Leaderboard: won revenue by rep"
    header, rows = table_rows(board_text)
    assert header == ["#", "rep", "won revenue", "won", "win rate", "avg deal size", "pipeline value"]
    assert rows == [[str(i), r["key"], money(r["won_revenue"]), plain(r["won_deals"]), plain(r["win_rate"]),
                     money(r["avg_deal_size"]), money(r["pipeline_value"])]
                    for i, r in enumerate(WANT["rep"][:10], start=1)]
    _, rows = table_rows(company_text)
    total = WANT["all"][0]
    assert rows == [[k, money(total[k]) if k in MONEY else plain(total[k])] for k in DEAL_KPIS]
    assert out.strip().splitlines()[-2:] == [
        f"Explore: attain --db sqlite:///{db} kpi --by region",
        "(or --by manager, product, sector, quarter)"]
