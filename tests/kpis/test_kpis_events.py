"""The new event types and fields (issue 15): cost and rep events, the enablement activity
kinds with their coach, a deal's lead_source; validated, deduplicated and dead-lettered like
every other event, and costs importable from CSV (`attain import costs FILE.csv`)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from attain.core import Engine, Record
from attain.core.models import CostEvent, RepEvent, entity_key, parse_event
from attain.core.periods import utc_day
from pydantic import ValidationError
from testkit import Cli


def cost(cost_id: str, **fields: object) -> dict[str, object]:
    out: dict[str, object] = {"type": "cost", "event_id": f"c-{cost_id}", "cost_id": cost_id,
                              "category": "marketing", "amount": "100.00"}
    out.update(fields)
    if "occurred_at" not in out and "period" not in out:
        out["period"] = "2017-07"
    return out


def test_cost_with_a_period_counts_on_its_first_day() -> None:
    for period, day in [("2017-07", dt.date(2017, 7, 1)), ("2017-Q3", dt.date(2017, 7, 1)),
                        ("2017", dt.date(2017, 1, 1)), ("2017-q4", dt.date(2017, 10, 1))]:
        ev = parse_event(_json(cost("X", period=period)))
        assert isinstance(ev, CostEvent)
        assert utc_day(ev.occurred_at) == day
    ev = parse_event(_json(cost("Y", occurred_at="2017-08-14T23:30:00-05:00")))
    assert isinstance(ev, CostEvent) and ev.period is None and utc_day(ev.occurred_at) == dt.date(2017, 8, 15)
    assert entity_key(ev) == "Y"
    assert ev.amount == Decimal("100.00") and ev.currency == "USD"


@pytest.mark.parametrize("fields, reason", [
    ({"category": "travel"}, "category"),
    ({"amount": "-5"}, "amount"),
    ({"amount": "abc"}, "amount"),
    ({"period": "2017-13"}, "period"),
    ({"period": "2017-01-01..2017-02-01"}, "is not a month, quarter or year"),
    ({"period": "2017-07", "occurred_at": "2017-08-01T00:00:00Z"}, "is not in period 2017-07"),
    ({"currency": "usd"}, "currency"),
])
def test_invalid_costs_are_rejected_with_a_reason(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_event(_json(cost("X", **fields)))
    assert reason in str(exc.value)


def test_a_cost_needs_a_day() -> None:
    data = cost("X")
    del data["period"]
    with pytest.raises(ValidationError, match="occurred_at"):
        parse_event(_json(data))


def test_rep_events_and_new_fields_validate() -> None:
    rep = parse_event('{"type": "rep", "event_id": "r1", "rep": "Ann", "kind": "hired", '
                      '"occurred_at": "2016-03-01T00:00:00Z", "role": "AE", "manager": "Zoe"}')
    assert isinstance(rep, RepEvent) and rep.owner == "Ann" and entity_key(rep) == "Ann"
    with pytest.raises(ValidationError, match="kind"):
        parse_event('{"type": "rep", "event_id": "r2", "rep": "Ann", "kind": "fired", '
                    '"occurred_at": "2016-03-01T00:00:00Z"}')
    act = parse_event('{"type": "activity", "event_id": "a1", "activity_id": "A1", "kind": "coaching", '
                      '"owner": "Ann", "coach": "Zoe", "duration_minutes": 45, '
                      '"occurred_at": "2017-03-01T10:00:00Z"}')
    assert act.kind == "coaching" and getattr(act, "coach", None) == "Zoe"
    deal = parse_event('{"type": "deal", "event_id": "d1", "deal_id": "D1", "version": 1, "owner": "Ann", '
                       '"stage": "Won", "status": "won", "amount": 10, "closed_on": "2017-03-01", '
                       '"lead_source": "webinar", "occurred_at": "2017-03-01T10:00:00Z"}')
    assert getattr(deal, "lead_source", None) == "webinar"


def test_engine_dedups_and_dead_letters_new_events(engine: Engine) -> None:
    """Valid cost and rep events are accepted once (a replay is a duplicate), an invalid one
    is a dead letter while the rest of its batch counts, a reused id with other content is a
    conflict; lead_source survives the deals table (snapshots read back)."""
    good = [cost("M1"), cost("S1", category="sales", amount="250.5"),
            {"type": "rep", "event_id": "r1", "rep": "Ann", "kind": "hired",
             "occurred_at": "2016-03-01T00:00:00Z"},
            {"type": "deal", "event_id": "d1", "deal_id": "D1", "version": 1, "owner": "Ann",
             "stage": "Won", "status": "won", "amount": "10", "closed_on": "2017-03-01",
             "lead_source": "webinar", "occurred_at": "2017-03-01T10:00:00Z"}]
    bad = cost("B1", category="travel")
    res = engine.process([Record(_json(e), source=f"t:{i}") for i, e in enumerate([*good, bad])])
    assert (res.accepted, res.rejected) == (4, 1)
    assert "category" in res.rejections[0].reason
    again = engine.process([Record(_json(e), source="again") for e in good])
    assert (again.accepted, again.duplicates) == (0, 4)
    conflict = engine.process([Record(_json(cost("M1", amount="999")), source="c")])
    assert conflict.conflicts == 1 and conflict.accepted == 0
    assert [getattr(d, "lead_source", None) for d in engine.snapshots("default", ["D1"])] == ["webinar"]
    kinds = sorted(ev.type for ev in engine.facts("default"))
    assert kinds == ["cost", "cost", "rep"]


def _json(data: dict[str, object]) -> str:
    import json

    return json.dumps(data)


COSTS_CSV = """cost_id,category,amount,currency,period,occurred_at,channel,campaign
C1,marketing,1200.50,USD,2017-07,,paid search,Summer17
C2,sales,3000,USD,2017-Q3,,,
C3,marketing,abc,USD,2017-07,,,
C4,other,99.99,,,2017-08-02T10:00:00Z,,
"""


def test_import_costs_csv(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "costs.csv"
    path.write_text(COSTS_CSV)
    out = cli("import", "costs", str(path)).stdout
    assert "accepted 3," in out and "rejected 1" in out
    letters = cli.json("deadletter", "list", "--format", "json")
    assert [(d["source"], "amount" in d["reason"]) for d in letters] == [("costs.csv:4", True)]
    rows = {r["key"]: r for r in cli.kpis("quarter")}
    # by hand: marketing 1200.50 (C1), sales 3000 (C2), other 99.99 (C4); all in 2017-Q3
    q3 = rows["2017-Q3"]
    assert (q3["marketing_cost"], q3["sales_cost"], q3["total_cost"]) == (
        Decimal("1200.50"), 3000, Decimal("4300.49"))
    again = cli("import", "costs", str(path)).stdout
    assert "accepted 0, duplicates 3," in again


@pytest.mark.parametrize("text, problem", [
    ("cost_id,amount,period\nC1,5,2017\n", "missing column category"),
    ("cost_id,category,amount\nC1,sales,5\n", "missing column period or occurred_at"),
    ("cost_id,category,amount,period,colour\nC1,sales,5,2017,red\n", "unknown column colour"),
    ("", "empty"),
])
def test_import_costs_refuses_an_unusable_file(cli: Cli, tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "costs.csv"
    path.write_text(text)
    res = cli("import", "costs", str(path), ok=False)
    assert res.exit_code != 0 and problem in res.stderr and "Traceback" not in res.stderr
    assert cli.kpis("all") == [] or all(r.get("total_cost") in (0, None) for r in cli.kpis("all"))


def test_import_costs_missing_file(cli: Cli, tmp_path: Path) -> None:
    res = cli("import", "costs", str(tmp_path / "nope.csv"), ok=False)
    assert res.exit_code != 0 and "no such file" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
