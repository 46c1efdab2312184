"""Activity and lead KPIs (calls, emails, meetings, demos, activities, leads_created, mqls, sals,
sqls, leads_converted, leads_disqualified, avg_first_response_hours): exact counts computed here
with plain Python, independent of arrival order, duplicates and replays, and recomputed from the
stored events when a metric plugin is loaded later."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import Counter, defaultdict
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest
from attain.core.engine import Engine, Record
from attain.core.kpi import Metric
from attain.core.models import ActivityEvent, DealEvent, LeadEvent
from attain.core.plugins import Plugins, hookimpl
from attain.core.store import Store
from testkit import Cli

REPS = ["Ann", "Bob", "Cy"]
ACTIVITY_KPI = {"call": "calls", "email": "emails", "meeting": "meetings", "demo": "demos"}
LEAD_KPI = {"created": "leads_created", "mql": "mqls", "sal": "sals", "sql": "sqls",
            "converted": "leads_converted", "disqualified": "leads_disqualified"}
FACT_KPIS = [*ACTIVITY_KPI.values(), "activities", *LEAD_KPI.values(), "avg_first_response_hours"]
DEAL_KPIS = ["won_revenue", "won_deals", "lost_deals", "open_deals", "win_rate", "avg_deal_size",
             "avg_cycle_days", "pipeline_value"]
TZS = ["Z", "+02:00", "-05:30", ""]  # "" = a naive time (taken as UTC)


def _iso(t: dt.datetime, tz: str) -> str:
    return t.isoformat(timespec="seconds") + tz


def _in_zone(utc: dt.datetime, tz: str) -> str:
    """The naive UTC time ``utc`` as ISO-8601 text with the offset ``tz`` (one of TZS)."""
    offset = dt.timedelta(0) if tz in ("Z", "") else dt.datetime.strptime(tz, "%z").utcoffset()
    assert offset is not None
    return _iso(utc + offset, tz)


def _parse(text: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t if t.tzinfo is None else t.astimezone(dt.UTC).replace(tzinfo=None)


def make_events(seed: int = 11) -> list[dict[str, Any]]:
    """Deals, activities and leads spread over three reps, two years and every kind."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    start = dt.datetime(2016, 11, 1, 8, 0)
    for i in range(120):
        at = start + dt.timedelta(hours=rng.randrange(0, 24 * 500), minutes=rng.randrange(60))
        ev: dict[str, Any] = {"type": "activity", "event_id": f"act-{i}", "activity_id": f"A{i}",
                              "occurred_at": _iso(at, rng.choice(TZS)),
                              "kind": rng.choice(list(ACTIVITY_KPI)), "owner": rng.choice(REPS),
                              "duration_minutes": rng.randrange(1, 90)}
        if rng.random() < 0.5:
            ev["account"] = rng.choice(["Acme", "Globex"])
        out.append(ev)
    for i in range(90):
        at = start + dt.timedelta(hours=rng.randrange(0, 24 * 500), seconds=rng.randrange(3600))
        ev = {"type": "lead", "event_id": f"lead-{i}", "lead_id": f"L{i % 40}",
              "occurred_at": _iso(at, rng.choice(TZS)), "kind": rng.choice(list(LEAD_KPI)),
              "source": "webinar"}
        if rng.random() < 0.8:
            ev["owner"] = rng.choice(REPS)
        if rng.random() < 0.6:
            delay = dt.timedelta(minutes=rng.randrange(1, 3000), seconds=rng.randrange(60))
            # the response comes `delay` after the lead, written in another (or no) time zone
            ev["first_response_at"] = _in_zone(_parse(ev["occurred_at"]) + delay, rng.choice(TZS))
        out.append(ev)
    for i in range(30):
        status = ("won", "lost", "open")[i % 3]
        out.append({"type": "deal", "event_id": f"deal-{i}", "deal_id": f"D{i}", "version": 1,
                    "occurred_at": "2017-05-01T12:00:00Z", "owner": REPS[i % 3],
                    "account": "Acme", "stage": status.title(), "status": status,
                    "amount": str(100 + i) if status != "open" else None,
                    "engaged_on": "2017-03-01",
                    "closed_on": f"2017-{4 + i % 6:02d}-15" if status != "open" else None})
    return out


def _hours(ev: dict[str, Any]) -> Decimal:
    """occurred_at → first_response_at in hours, exactly (the events have whole seconds)."""
    delta = _parse(ev["first_response_at"]) - _parse(ev["occurred_at"])
    return Decimal(int(delta.total_seconds())) / 3600


def expected(events: list[dict[str, Any]], key_of: Any) -> dict[Any, dict[str, Decimal | None]]:
    """Every fact KPI per group, with plain Python."""
    counts: dict[Any, Counter[str]] = defaultdict(Counter)
    hours: dict[Any, list[Decimal]] = defaultdict(list)
    for ev in events:
        if ev["type"] == "deal":
            continue
        key = key_of(ev)
        if ev["type"] == "activity":
            counts[key][ACTIVITY_KPI[ev["kind"]]] += 1
            counts[key]["activities"] += 1
        else:
            counts[key][LEAD_KPI[ev["kind"]]] += 1
            if "first_response_at" in ev:
                hours[key].append(_hours(ev))
    out: dict[Any, dict[str, Decimal | None]] = {}
    for key in set(counts) | set(hours):
        row: dict[str, Decimal | None] = {k: Decimal(counts[key][k]) for k in FACT_KPIS[:-1]}
        hs = hours[key]
        row["avg_first_response_hours"] = (
            (sum(hs, Decimal(0)) / len(hs)).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
            if hs else None)
        out[key] = row
    return out


def quarter_of(ev: dict[str, Any]) -> str:
    # the quarter of occurred_at's date, as written in the event (its own offset)
    day = dt.datetime.fromisoformat(ev["occurred_at"].replace("Z", "+00:00")).date()
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def jsonl(events: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(e) + "\n" for e in events)


def check(rows: list[dict[str, Any]], want: dict[Any, dict[str, Decimal | None]]) -> None:
    got = {r["key"]: r for r in rows}
    for key, kpis in want.items():
        assert key in got, key
        for name, value in kpis.items():
            assert got[key][name] == value, (key, name, got[key][name], value)
    for key, row in got.items():  # groups without facts count none
        if key not in want:
            assert all(row[k] == 0 for k in FACT_KPIS[:-1]), row
            assert row["avg_first_response_hours"] is None


def test_fact_kpis_by_rep_and_quarter_are_exact(cli: Cli, tmp_path: Path) -> None:
    events = make_events()
    path = tmp_path / "events.jsonl"
    path.write_text(jsonl(events))
    out = cli("ingest", str(path), "--batch-size", "37").stdout
    assert out.strip() == f"accepted {len(events)}, duplicates 0, stale 0, conflicts 0, rejected 0"

    by_rep = cli.kpis("rep")
    # the documented deal KPIs come first, then the others; every metric has a column
    assert list(by_rep[0])[:9] == ["key", *DEAL_KPIS]
    assert set(FACT_KPIS) <= set(by_rep[0])
    want = expected(events, lambda e: e.get("owner"))  # owner-less leads: key null
    assert None in want and want[None]["mqls"] is not None
    check(by_rep, want)
    # deals are still counted as before
    rows = {r["key"]: r for r in by_rep}
    for rep in REPS:
        assert rows[rep]["won_deals"] == sum(
            1 for e in events if e["type"] == "deal" and e["owner"] == rep and e["status"] == "won")

    check(cli.kpis("quarter"), expected(events, quarter_of))
    check(cli.kpis("all"), expected(events, lambda e: "all"))
    # an activity's account groups it; leads have none
    by_account = {r["key"]: r for r in cli.kpis("account")}
    want = expected([e for e in events if e["type"] == "activity"], lambda e: e.get("account"))
    for account in ("Acme", "Globex"):
        for name in [*ACTIVITY_KPI.values(), "activities"]:
            assert by_account[account][name] == want[account][name], (account, name)
        assert by_account[account]["mqls"] == 0


def test_avg_first_response_hours_rounds_half_even(engine: Engine) -> None:
    base = {"type": "lead", "kind": "mql", "owner": "Ann", "occurred_at": "2017-01-02T00:00:00Z"}
    # 1 h 0 min 18 s = 1.005 h and 2 h 0 min 54 s = 2.015 h; mean 1.51 h exactly
    # (and 1.005 alone rounds half-even to 1.00)
    engine.process([Record({**base, "event_id": "l1", "lead_id": "L1",
                            "first_response_at": "2017-01-02T01:00:18Z"})])
    assert {r["key"]: r for r in engine.kpis("default", "rep")}["Ann"][
        "avg_first_response_hours"] == Decimal("1.00")
    engine.process([Record({**base, "event_id": "l2", "lead_id": "L2",
                            "first_response_at": "2017-01-02T04:00:54+02:00"}),
                    Record({**base, "event_id": "l3", "lead_id": "L3"})])  # no response: ignored
    row = {r["key"]: r for r in engine.kpis("default", "rep")}["Ann"]
    assert row["avg_first_response_hours"] == Decimal("1.51")
    assert row["mqls"] == 3


def test_order_duplicates_and_replays_change_nothing(make_cli: Any, tmp_path: Path) -> None:
    events = make_events(seed=5)
    rng = random.Random(3)
    shuffled = events[:]
    rng.shuffle(shuffled)
    with_dupes = shuffled + rng.sample(events, 40)  # redelivered: same event ids
    rng.shuffle(with_dupes)

    a, b = make_cli(f"sqlite:///{tmp_path / 'a.db'}"), make_cli(f"sqlite:///{tmp_path / 'b.db'}")
    (tmp_path / "a.jsonl").write_text(jsonl(events))
    (tmp_path / "b.jsonl").write_text(jsonl(with_dupes))
    a("ingest", str(tmp_path / "a.jsonl"))
    out = b("ingest", str(tmp_path / "b.jsonl"), "--batch-size", "9").stdout
    assert out.strip() == f"accepted {len(events)}, duplicates 40, stale 0, conflicts 0, rejected 0"
    for by in ("rep", "quarter", "all"):
        assert a.kpis(by) == b.kpis(by), by
    # a full replay is all duplicates and leaves every figure as it was
    before = a.kpis("rep")
    out = a("ingest", str(tmp_path / "b.jsonl")).stdout
    assert out.strip() == f"accepted 0, duplicates {len(with_dupes)}, stale 0, conflicts 0, rejected 0"
    assert a.kpis("rep") == before
    check(before, expected(events, lambda e: e.get("owner")))


# -- metric plugins over facts ----------------------------------------------------------------


def call_minutes(event: ActivityEvent) -> dict[str, int]:
    assert isinstance(event, ActivityEvent), event  # only the declared types arrive
    return {"minutes": event.duration_minutes or 0} if event.kind == "call" else {}


def deals_seen(event: DealEvent) -> dict[str, int]:
    assert isinstance(event, DealEvent), event  # a deal metric never sees a fact
    return {"deals": 1}


def lead_sources(event: LeadEvent) -> dict[str, int]:
    assert isinstance(event, LeadEvent), event
    return {"webinar": 1} if event.source == "webinar" else {}


class FactMetrics:
    @hookimpl
    def attain_register_metrics(self, register: Any) -> None:
        register(Metric("call_minutes", "Σ duration_minutes of calls", call_minutes,
                        lambda s: s.get("minutes", Decimal(0)), "number", events=("activity",)))
        register(Metric("webinar_leads", "lead events from webinars", lead_sources,
                        lambda s: s.get("webinar", Decimal(0)), "count", events=("lead",)))
        register(Metric("deal_snapshots", "deals", deals_seen,
                        lambda s: s.get("deals", Decimal(0)), "count"))


def test_a_metric_plugin_loaded_later_is_computed_from_the_stored_facts(store: Store) -> None:
    events = make_events(seed=8)
    before = Engine(store, Plugins(load_entry_points=False))
    assert before.process([Record(e) for e in events]).accepted == len(events)
    core_rows = before.kpis("default", "rep")

    plugins = Plugins(load_entry_points=False)
    plugins.register(FactMetrics(), "facts")
    after = Engine(store, plugins)
    assert after.signature() != before.signature()
    rows = {r["key"]: r for r in after.kpis("default", "rep")}  # rebuilt: new signature
    assert not plugins.errors
    for rep in REPS:
        mine = [e for e in events if e.get("owner") == rep]
        assert rows[rep]["call_minutes"] == sum(
            e["duration_minutes"] for e in mine if e["type"] == "activity" and e["kind"] == "call")
        assert rows[rep]["webinar_leads"] == sum(1 for e in mine if e["type"] == "lead")
        assert rows[rep]["deal_snapshots"] == sum(1 for e in mine if e["type"] == "deal")
    # the core's own figures are unchanged by the rebuild
    for r in core_rows:
        assert {k: r[k] for k in FACT_KPIS + DEAL_KPIS} == {
            k: rows[r["key"]][k] for k in FACT_KPIS + DEAL_KPIS}

    # new facts are added live, and kpis_where agrees with the cells
    extra = {"type": "activity", "event_id": "late-call", "activity_id": "late", "kind": "call",
             "owner": "Ann", "occurred_at": "2018-01-05T10:00:00Z", "duration_minutes": 7}
    after.process([Record(extra)])
    live = {r["key"]: r for r in after.kpis("default", "rep")}
    assert live["Ann"]["call_minutes"] == rows["Ann"]["call_minutes"] + 7
    assert live["Ann"]["calls"] == rows["Ann"]["calls"] + 1
    where = {r["key"]: r for r in after.kpis_where("default", "rep", lambda e: True)}
    assert where == live
    assert not plugins.errors


def test_facts_are_read_back_validated(engine: Engine) -> None:
    events = make_events(seed=2)
    engine.process([Record(json.dumps(e)) for e in events])
    facts = list(engine.facts("default"))
    assert [f.event_id for f in facts] == [e["event_id"] for e in events if e["type"] != "deal"]
    assert all(isinstance(f, (LeadEvent, ActivityEvent)) for f in facts)
    # kpis_where hands facts to the predicate too: filter on the type
    calls_2017 = engine.kpis_where(
        "default", "all",
        lambda e: e.type == "activity" and e.kind == "call" and e.occurred_at.year == 2017)
    n = sum(1 for f in facts if isinstance(f, ActivityEvent) and f.kind == "call"
            and f.occurred_at.year == 2017)
    assert calls_2017[0]["calls"] == n and calls_2017[0]["won_deals"] == 0


@pytest.mark.parametrize("tenant", ["acme"])
def test_facts_of_a_tenant_given_from_outside(engine: Engine, tenant: str) -> None:
    ev = {"type": "activity", "event_id": "c1", "activity_id": "c1", "kind": "demo",
          "owner": "Ann", "occurred_at": "2017-02-01T10:00:00Z"}
    engine.process([Record(json.dumps(ev))], tenant=tenant)
    assert [f.tenant for f in engine.facts(tenant)] == [tenant]
    engine.rebuild(tenant)
    assert engine.kpis(tenant, "rep")[0]["demos"] == 1
    assert engine.kpis("default", "rep") == []
