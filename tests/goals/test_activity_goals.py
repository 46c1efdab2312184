"""Activity goals (calls, demos …) and lead goals (MQLs …): their actuals are plain counts of the
lead / activity events whose occurred_at UTC day is in the period and whose owner matches."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from attain.core.engine import Engine, Record
from attain.plugins.goals.periods import parse_period
from attain.plugins.goals.service import GoalService

from goals.goals_helpers import CsvData, GoalsCli

D = Decimal
KINDS = ["call", "email", "meeting", "demo"]
LEADS = ["created", "mql", "sal", "sql", "converted", "disqualified"]


def facts(reps: list[str], seed: int = 4) -> list[dict[str, Any]]:
    """Activities and leads over 2016-12 … 2018-01, plus events on the edges of 2017-Q3."""
    rng = random.Random(seed)
    start = dt.datetime(2016, 12, 1)
    out: list[dict[str, Any]] = []
    for i in range(400):
        at = start + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 420))
        out.append({"type": "activity", "event_id": f"a{i}", "activity_id": f"a{i}",
                    "kind": rng.choice(KINDS), "owner": rng.choice(reps),
                    "occurred_at": at.isoformat() + "Z"})
    for i in range(300):
        at = start + dt.timedelta(minutes=rng.randrange(0, 60 * 24 * 420))
        ev: dict[str, Any] = {"type": "lead", "event_id": f"l{i}", "lead_id": f"L{i}",
                              "kind": rng.choice(LEADS), "occurred_at": at.isoformat() + "Z"}
        if rng.random() < 0.7:
            ev["owner"] = rng.choice(reps)
        out.append(ev)
    rep = reps[0]
    for eid, at in [("edge-1", "2017-06-30T23:59:59Z"), ("edge-2", "2017-07-01T00:00:00Z"),
                    ("edge-3", "2017-09-30T23:59:59Z"), ("edge-4", "2017-10-01T00:00:00Z"),
                    ("edge-5", "2017-10-01T01:00:00+02:00")]:  # UTC day 2017-09-30: Q3

        out.append({"type": "activity", "event_id": eid, "activity_id": eid, "kind": "call",
                    "owner": rep, "occurred_at": at})
    for eid, at in [("edge-6", "2016-12-31T23:59:00Z"), ("edge-7", "2018-01-01T00:00:00Z")]:
        out.append({"type": "lead", "event_id": eid, "lead_id": eid, "kind": "mql",
                    "occurred_at": at})
    return out


def day(ev: dict[str, Any]) -> dt.date:
    """The day an event counts on: its UTC calendar day (the core's one rule)."""
    return dt.datetime.fromisoformat(ev["occurred_at"].replace("Z", "+00:00")).astimezone(dt.UTC).date()


def count(events: list[dict[str, Any]], type_: str, kind: str, start: dt.date, end: dt.date,
          owners: set[str] | None = None) -> Decimal:
    return D(sum(1 for e in events if e["type"] == type_ and e["kind"] == kind
                 and start <= day(e) <= end and (owners is None or e.get("owner") in owners)))


def test_activity_and_lead_goals_count_the_facts(bundled_engine: Engine, csv_data: CsvData
                                                 ) -> None:
    reps = sorted(csv_data.teams)
    rep = reps[0]
    events = facts(reps)
    assert bundled_engine.process([Record(e) for e in events]).accepted == len(events)
    q3_start, q3_end = dt.date(2017, 7, 1), dt.date(2017, 9, 30)
    y_start, y_end = dt.date(2017, 1, 1), dt.date(2017, 12, 31)
    manager = csv_data.teams[rep][0]
    team = csv_data.reps_of("manager", manager)

    svc = GoalService(bundled_engine, "default")
    svc.apply([
        {"id": "calls-q3", "metric": "calls", "owner": f"rep:{rep}", "period": "2017-Q3",
         "target": 20},
        {"id": "mqls-2017", "metric": "mqls", "owner": "company", "period": "2017",
         "target": 40},
        {"id": "demos-team", "metric": "demos", "owner": f"manager:{manager}",
         "period": "2017-H2", "target": 10, "kind": "activity"},
        {"id": "mqls-rep", "metric": "mqls", "owner": f"rep:{rep}", "period": "2017",
         "target": 5},
    ])
    calls = count(events, "activity", "call", q3_start, q3_end, {rep})
    mqls = count(events, "lead", "mql", y_start, y_end)  # owner-less leads count for the company
    demos = count(events, "activity", "demo", q3_start, y_end, team)
    rep_mqls = count(events, "lead", "mql", y_start, y_end, {rep})
    assert calls >= 2 and mqls > rep_mqls > 0 and demos > 0  # the data covers every case

    rows = {r["id"]: r for r in svc.progress(dt.date(2018, 1, 15))}
    assert rows["calls-q3"]["actual"] == calls
    assert rows["mqls-2017"]["actual"] == mqls
    assert rows["demos-team"]["actual"] == demos
    assert rows["mqls-rep"]["actual"] == rep_mqls
    assert rows["calls-q3"]["attainment"] == (calls / 20).quantize(D("0.0001"))
    # the same figure for any period, through the service
    for label in ("2017-07", "2017-08", "2017-09"):
        p = parse_period(label)
        assert svc.actual_of("calls", svc.goals()[0].owner_ref, p, "outcome") == count(
            events, "activity", "call", p.start, p.end, {rep})

    # a new call in the period is counted (live, through the engine) …
    late = {"type": "activity", "event_id": "late", "activity_id": "late", "kind": "call",
            "owner": rep, "occurred_at": "2017-08-20T10:00:00Z"}
    bundled_engine.process([Record(late)])
    svc.refresh()
    assert {r["id"]: r for r in svc.progress(dt.date(2018, 1, 15))}["calls-q3"]["actual"] == \
        calls + 1
    # … and a replayed one is not
    bundled_engine.process([Record(late), Record(events[0])])
    svc.refresh()
    assert {r["id"]: r for r in svc.progress(dt.date(2018, 1, 15))}["calls-q3"]["actual"] == \
        calls + 1


def test_a_calls_goal_cascades_by_history(bundled_engine: Engine, csv_data: CsvData) -> None:
    reps = sorted(csv_data.teams)
    events = facts(reps, seed=9)
    bundled_engine.process([Record(e) for e in events])
    manager = csv_data.teams[reps[0]][0]
    team = sorted(csv_data.reps_of("manager", manager))
    svc = GoalService(bundled_engine, "default")
    svc.apply([{"id": "team-calls", "metric": "calls", "owner": f"manager:{manager}",
                "period": "2017-Q4", "target": 90,
                "cascade": {"owners": "rep", "method": "history"}}])
    children = [g for g in svc.goals() if g.id.startswith("team-calls/")]
    assert sorted(g.owner_ref.name or "" for g in children) == team
    assert sum(D(g.target) for g in children) == 90  # whole calls, summing exactly
    # the weights are each rep's calls in the same period last year (2016-Q4: the data starts
    # in December 2016), or without any there, in all the history before the period
    weights = {r: count(events, "activity", "call", dt.date(2016, 10, 1), dt.date(2016, 12, 31),
                        {r}) for r in team}
    if not sum(weights.values()):
        weights = {r: count(events, "activity", "call", dt.date(2016, 1, 1),
                            dt.date(2017, 9, 30), {r}) for r in team}
    total = sum(weights.values())
    assert total > 0
    for g in children:
        share = D(90) * weights[g.owner_ref.name or ""] / total
        assert abs(D(g.target) - share) < 1, (g.id, g.target, share)


def test_goals_cli_on_an_activity_kpi(goals_cli: GoalsCli, bundled_url: str,
                                      csv_data: CsvData) -> None:
    from attain.core.plugins import get_plugins
    from attain.core.store import Store

    reps = sorted(csv_data.teams)
    events = facts(reps, seed=1)
    store = Store(bundled_url)
    try:
        Engine(store, get_plugins()).process([Record(e) for e in events])
    finally:
        store.dispose()
    goals_cli("goals", "add", "--id", "emails", "--metric", "emails", "--owner",
              f"rep:{reps[1]}", "--period", "2017-Q3", "--target", "12")
    rows = goals_cli.json("goals", "progress", "--as-of", "2017-10-15", "--format", "json")
    row = {r["id"]: r for r in rows}["emails"]
    assert row["actual"] == count(events, "activity", "email", dt.date(2017, 7, 1),
                                  dt.date(2017, 9, 30), {reps[1]})


def test_calls_goal_is_re_evaluated_live_by_calls_only(empty_url: str) -> None:
    from attain.core.models import Rep
    from attain.core.plugins import Plugins
    from attain.core.store import Store
    from attain.plugins.goals import live

    store = Store(empty_url)
    try:
        engine = Engine(store, Plugins())
        engine.save_dimensions("default", reps=[Rep(name="Ann", manager="Meg", region="East")])
        svc = GoalService(engine, "default")
        svc.add({"id": "ann-calls", "metric": "calls", "owner": "rep:Ann", "period": "2017-07",
                 "target": 31})  # one call a day keeps pace

        def call(n: int, d: int) -> Record:
            return Record({"type": "activity", "event_id": f"c{n}", "activity_id": f"c{n}",
                           "kind": "call", "owner": "Ann",
                           "occurred_at": f"2017-07-{d:02d}T10:00:00Z"})

        for d in range(1, 11):
            engine.process([call(d, d)])
        assert svc.repo.statuses("default") == {"ann-calls": "on_track"}
        # a lead and a deal cannot move a calls goal: it is not re-evaluated
        engine.process([Record({"type": "lead", "event_id": "l1", "lead_id": "l1",
                                "kind": "mql", "owner": "Ann",
                                "occurred_at": "2017-07-13T10:00:00Z"})])
        assert live.last_transitions("default") == []
        engine.process([Record({"type": "deal", "event_id": "d1", "deal_id": "d1", "version": 1,
                                "owner": "Ann", "stage": "Won", "status": "won", "amount": 5,
                                "closed_on": "2017-07-14",
                                "occurred_at": "2017-07-14T12:00:00Z"})])
        assert live.last_transitions("default") == []
        # day 15 with 11 calls against 15 due: 0.73 → off_track, found by the call itself
        engine.process([call(11, 15)])
        got = live.last_transitions("default")
        assert [(t["id"], t["status"], t["actual"]) for t in got] == [
            ("ann-calls", "off_track", D(11))]
    finally:
        store.dispose()
