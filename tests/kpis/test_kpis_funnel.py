"""The deal funnel from version history (`attain funnel`) and sales velocity: figures worked
out by hand in the comments; the same whatever the arrival order, with stale versions and
redelivered events."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from attain.core import Engine, Record, parse_period
from attain.plugins import kpis as kpis_plugin
from attain.plugins.kpis.funnel import funnel
from attain.testing import assert_order_independent, make_plugins
from testkit import Cli


def v(deal: str, version: int, stage: str, at: str, owner: str = "Ann", status: str = "open",
      **extra: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {"type": "deal", "event_id": f"{deal}-v{version}", "deal_id": deal,
                          "version": version, "owner": owner, "stage": stage, "status": status,
                          "occurred_at": at, **extra}
    if status in ("won", "lost"):
        ev.setdefault("amount", "100")
        ev.setdefault("closed_on", at[:10])
    return ev


EVENTS = [
    v("D1", 1, "Prospecting", "2017-07-01T00:00:00Z"),
    v("D1", 2, "Engaging", "2017-07-03T12:00:00Z"),
    v("D1", 3, "Won", "2017-07-10T00:00:00Z", status="won"),
    v("D2", 1, "Prospecting", "2017-07-02T00:00:00Z"),
    v("D2", 2, "Engaging", "2017-07-04T00:00:00Z"),
    v("D2", 3, "Lost", "2017-07-06T00:00:00Z", status="lost"),
    v("D3", 1, "Prospecting", "2017-07-05T00:00:00Z", owner="Bob"),
    v("D3", 2, "Engaging", "2017-07-15T00:00:00Z", owner="Bob"),
    v("D4", 1, "Prospecting", "2017-07-06T00:00:00Z", owner="Bob"),
    v("D5", 1, "Prospecting", "2017-06-01T00:00:00Z", owner="Bob"),  # entered in Q2
]


def q3_all(rows: list[dict[str, Any]]) -> dict[str, Any]:
    assert [r["key"] for r in rows] == ["all"]
    return rows[0]


def test_funnel_by_hand(engine: Engine) -> None:
    # D1's Engaging version arrives after its Won version: stale, yet part of the history
    stream = [e for e in EVENTS if e["event_id"] != "D1-v2"] + [EVENTS[1]]
    res = engine.process([Record(dict(e), source="t") for e in stream])
    assert res.stale == 1
    row = q3_all(funnel(engine.events("default", types=["deal"]), engine.dimensions("default"),
                        "all", parse_period("2017-Q3")))
    assert row["deals"] == 4  # D5 entered in Q2
    by_stage = {s["stage"]: s for s in row["stages"]}
    # default order: first seen (D5's Prospecting 06-01, Engaging 07-03, Lost 07-06, Won 07-10)
    assert [s["stage"] for s in row["stages"]] == ["Prospecting", "Engaging", "Lost", "Won"]
    assert [by_stage[s]["reached"] for s in ("Prospecting", "Engaging", "Lost", "Won")] == [4, 3, 1, 1]
    assert by_stage["Prospecting"]["conversion"] == Decimal("0.75")  # 3 of 4
    assert by_stage["Engaging"]["conversion"] == Decimal("0.3333")   # 1 of 3
    assert by_stage["Lost"]["conversion"] == 1 and by_stage["Won"]["conversion"] is None
    # Prospecting: D1 2.5 days, D2 2, D3 10 (D4 still there): mean 14.5 / 3, median of 2, 2, 10
    assert by_stage["Prospecting"]["mean_days"] == Decimal("4.83")
    assert by_stage["Prospecting"]["median_days"] == 2 and by_stage["Prospecting"]["measured"] == 3
    # Engaging: D1 6.5 days, D2 2 (D3 still there): mean 4.25, median of whole days 6 and 2 = 4
    assert by_stage["Engaging"]["mean_days"] == Decimal("4.25") and by_stage["Engaging"]["median_days"] == 4
    assert by_stage["Lost"]["mean_days"] is None
    assert row["bottleneck"] == "Engaging"
    # the tenant's own order: Engaging → Won is 1 of 3
    row = q3_all(funnel(engine.events("default", types=["deal"]), engine.dimensions("default"),
                        "all", parse_period("2017-Q3"), ["Prospecting", "Engaging", "Won"]))
    assert [(s["stage"], s["conversion"]) for s in row["stages"]] == [
        ("Prospecting", Decimal("0.75")), ("Engaging", Decimal("0.3333")), ("Won", None)]


def test_funnel_is_order_independent() -> None:
    pm = make_plugins({"kpis": kpis_plugin})

    def read(e: Engine) -> Any:
        return {g: funnel(e.events("default", types=["deal"]), e.dimensions("default"), g)
                for g in ("all", "rep")}

    got = assert_order_independent(EVENTS, read, plugins=pm, seeds=(1, 2, 3, 4), batch_sizes=(1, 3, 50),
                                   redeliver=0.5)
    ann = next(r for r in got["rep"] if r["key"] == "Ann")
    assert ann["deals"] == 2 and ann["bottleneck"] is not None


def test_a_bottleneck_tie_goes_to_the_longest_stay() -> None:
    from attain.plugins.kpis.funnel import bottleneck

    stages = [{"stage": "A", "conversion": Decimal("0.5"), "mean_days": Decimal(2)},
              {"stage": "B", "conversion": Decimal("0.5"), "mean_days": Decimal(9)},
              {"stage": "C", "conversion": None, "mean_days": None}]
    assert bottleneck(stages) == "B"


def test_funnel_command_and_velocity(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "deals.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    cli("ingest", str(path))
    rows = cli.json("funnel", "--by", "rep", "--period", "2017-Q3", "--format", "json")
    assert [(r["key"], r["deals"]) for r in rows] == [("Ann", 2), ("Bob", 2)]
    lines = cli("funnel", "--by", "rep", "--period", "2017-Q3", "--format", "csv").stdout.splitlines()
    assert lines[0] == "rep,stage,reached,next_stage,conversion,mean_days,median_days,bottleneck"
    assert lines[1].startswith("Ann,Prospecting,2,Engaging,1")  # both of Ann's deals reached Engaging
    assert "Deal funnel by team" in cli("funnel", "--by", "team").stdout
    bad = cli("funnel", "--by", "planet", ok=False)
    assert bad.exit_code != 0 and "planet" in bad.stderr


def test_sales_velocity(engine: Engine) -> None:
    """Ann: 3 open, won 1000 (cycle 10 days) and 3000 (30 days), 1 lost: win rate 2/3, average
    size 2000, average cycle 20 days → 3 × 2/3 × 2000 ÷ 20 = 200.00 a day."""
    def deal(i: int, status: str, **f: Any) -> dict[str, Any]:
        return {"type": "deal", "event_id": f"e{i}", "deal_id": f"D{i}", "version": 1, "owner": "Ann",
                "stage": status, "status": status, "occurred_at": "2017-07-01T00:00:00Z", **f}

    events = [deal(1, "won", amount="1000", engaged_on="2017-06-01", closed_on="2017-06-11"),
              deal(2, "won", amount="3000", engaged_on="2017-05-01", closed_on="2017-05-31"),
              deal(3, "lost", amount="0", closed_on="2017-06-01"),
              *(deal(i, "open") for i in (4, 5, 6))]
    engine.process([Record(e, source="t") for e in events])
    row = next(r for r in engine.kpis("default", "rep") if r["key"] == "Ann")
    assert row["sales_velocity"] == Decimal("200.00")
    assert (row["open_deals"], row["win_rate"], row["avg_deal_size"], row["avg_cycle_days"]) == (
        3, Decimal("0.6667"), 2000, 20)


def test_a_saved_stage_order_is_the_tenants_default(cli: Cli, tmp_path: Path) -> None:
    """Every deal (no period): Prospecting 5, Engaging 3 (D1, D2, D3), Won 1, Lost 1. With the
    saved order Prospecting, Engaging, Won: 3/5 = 0.6, then 1/3 = 0.3333; Lost is not shown."""
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    cli("ingest", str(path))
    cli("ingest", str(path), "--tenant", "other")

    def order(*args: str) -> list[tuple[str, int, Any]]:
        rows = cli.json("funnel", "--format", "json", *args)
        return [(s["stage"], s["reached"], s["conversion"]) for s in rows[0]["stages"]]

    first_seen = [("Prospecting", 5, Decimal("0.6")), ("Engaging", 3, Decimal("0.3333")),
                  ("Lost", 1, 1), ("Won", 1, None)]
    assert order() == first_seen
    saved = [("Prospecting", 5, Decimal("0.6")), ("Engaging", 3, Decimal("0.3333")), ("Won", 1, None)]
    assert order("--save-stages", " Prospecting, Engaging ,Won") == saved
    assert order() == saved                                   # used by default afterwards
    assert order("--stages", "Engaging,Won") == [("Engaging", 3, Decimal("0.3333")), ("Won", 1, None)]
    assert order() == saved                                   # --stages does not save
    assert order("--tenant", "other") == first_seen           # per tenant
    for bad, why in [("Prospecting,,Won", "empty stage"), ("Won,Won", "given twice")]:
        res = cli("funnel", "--save-stages", bad, ok=False)
        assert res.exit_code == 2 and why in res.stderr and "Traceback" not in res.stderr
    both = cli("funnel", "--stages", "Won", "--save-stages", "Won", ok=False)
    assert both.exit_code == 2 and "one of" in both.stderr
    assert order() == saved                                   # a refused order saves nothing
    assert order("--clear-stages") == first_seen
    assert order() == first_seen
