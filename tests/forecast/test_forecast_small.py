"""Small hand-made data: activity performers, and a goal in the plan document."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from attain.core.plugins import get_plugins
from backend_data import BundledTemplates
from testkit import Cli

from forecast.helpers import ForecastCli

D = Decimal


def deal(n: int, owner: str, status: str, amount: int) -> dict:
    return {"type": "deal", "event_id": f"d{n}", "deal_id": f"D{n}", "version": 1, "owner": owner,
            "stage": status.title(), "status": status, "amount": amount,
            "engaged_on": "2017-05-01", "closed_on": "2017-06-01",
            "occurred_at": "2017-06-01T12:00:00Z"}


def activity(n: int, owner: str) -> dict:
    return {"type": "activity", "event_id": f"a{n}", "activity_id": f"A{n}", "kind": "call",
            "owner": owner, "occurred_at": "2017-05-15T09:00:00Z"}


def test_activity_performers(cli: Cli) -> None:
    events = [deal(1, "Ann", "won", 100), deal(2, "Ann", "lost", 50),
              deal(3, "Bob", "won", 300), deal(4, "Bob", "won", 200),
              deal(5, "Cy", "lost", 80), deal(6, "Cy", "won", 90),
              deal(7, "Dee", "won", 10)]  # one deal: below --min-deals 2, never ranked
    events += [activity(i, "Ann") for i in range(5)] + [activity(10, "Bob")]
    events += [activity(20 + i, "Dee") for i in range(9)]
    cli("ingest", "-", input="\n".join(json.dumps(e) for e in events))
    r = cli.json("forecast", "insight", "--min-deals", "2", "--format", "json")["performers"]
    acts = r["metrics"]["activities"]
    assert [(x["rep"], x["value"]) for x in acts["top"]] == [("Ann", 5), ("Bob", 1), ("Cy", 0)]
    assert acts["company"] == D("3.8")  # 15 activities over 4 reps = 3.75, one decimal half-even
    assert r["too_few"] == ["Dee"]
    sizes = r["metrics"]["avg_deal_size"]["top"]
    assert [(x["rep"], x["value"]) for x in sizes] == [("Bob", D(250)), ("Ann", D(100)),
                                                        ("Cy", D(90))]


@pytest.fixture
def own_cli(bundled_templates: BundledTemplates, tmp_path: Path) -> ForecastCli:
    with bundled_templates.copy("sqlite", "forecast", get_plugins, tmp_path) as url:
        return ForecastCli(url)


def test_goals_are_in_the_plan_document(own_cli: ForecastCli) -> None:
    own_cli("goals", "add", "--id", "revenue-2018", "--metric", "won_revenue", "--owner",
            "company", "--period", "2018", "--target", "11000000")
    own_cli("goals", "add", "--id", "east-2018-q1", "--metric", "won_revenue", "--owner",
            "region:East", "--period", "2018-Q1", "--target", "800000")
    own_cli("goals", "add", "--id", "old", "--metric", "won_revenue", "--owner", "company",
            "--period", "2017-Q4", "--target", "2000000")
    data = own_cli.json("plan", "report", "--year", "2018", "--format", "json")
    assert [(g["id"], g["owner"], g["period"], g["target"]) for g in data["goals"]] == [
        ("east-2018-q1", "region:East", "2018-Q1", D(800000)),
        ("revenue-2018", "company", "2018", D(11000000))]
    md = own_cli("plan", "report", "--year", "2018").stdout
    assert "| revenue-2018 | won_revenue | company | 2018 | 11,000,000 | – |" in md
    assert "| old |" not in md
