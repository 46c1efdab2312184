"""The kpis plugin's metrics on hand-built streams: every figure is recomputed here from the
events with plain Python (counts, sums, ROUND_HALF_EVEN quantization), independently of the
plugin's contribute/compute; lead conversion and marketing attribution also under shuffled,
redelivered and re-batched streams."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any

import pytest
from attain.core import Engine, Record
from attain.plugins import kpis as kpis_plugin
from attain.testing import assert_order_independent, make_plugins

REPS = ["Ann", "Bob", "Cy"]
Q = Decimal("0.0001")


def ratio(num: Decimal | int, den: Decimal | int) -> Decimal | None:
    return None if den == 0 else (Decimal(num) / Decimal(den)).quantize(Q, rounding=ROUND_HALF_EVEN)


def hours(minutes: int) -> Decimal:
    return (Decimal(minutes) / 60).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)


def same(a: object, b: object) -> bool:
    """Exact equality of KPI values (an integral Decimal equals its int; None equals None)."""
    return a == b


def stream(seed: int = 5) -> list[dict[str, Any]]:
    """Leads, enablement activities, costs, customer and rep events and deals (some with a lead
    source), over two quarters and three reps."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    n = 0

    def eid() -> str:
        nonlocal n
        n += 1
        return f"e{n}"

    for i in range(60):
        month = rng.choice(["04", "05", "07", "08"])
        out.append({"type": "lead", "event_id": eid(), "lead_id": f"L{i}", "owner": rng.choice(REPS),
                    "kind": rng.choice(["created", "mql", "mql", "sal", "sal", "sql", "converted",
                                        "disqualified"]),
                    "occurred_at": f"2017-{month}-{rng.randrange(1, 28):02d}T10:00:00Z"})
    for i in range(30):
        out.append({"type": "activity", "event_id": eid(), "activity_id": f"A{i}",
                    "owner": rng.choice(REPS),
                    "kind": rng.choice(["coaching", "training", "call_review", "call"]),
                    "duration_minutes": rng.randrange(5, 125), "coach": "Zoe",
                    "occurred_at": f"2017-0{rng.choice([5, 8])}-10T09:00:00Z"})
    for i in range(12):
        out.append({"type": "cost", "event_id": eid(), "cost_id": f"C{i}",
                    "category": rng.choice(["marketing", "sales", "other"]),
                    "amount": f"{rng.randrange(100, 5000)}.{rng.randrange(100):02d}",
                    "period": rng.choice(["2017-05", "2017-08", "2017-Q3"])})
    for i in range(10):
        kind = rng.choice(["churned", "renewed"])
        ev: dict[str, Any] = {"type": "customer", "event_id": eid(), "account": f"Acc{i}",
                              "kind": kind, "occurred_at": f"2017-0{rng.choice([5, 8])}-03T00:00:00Z"}
        if rng.random() < 0.8:
            ev["amount"] = f"{rng.randrange(1000, 9000)}.50"
        out.append(ev)
    for i, rep in enumerate(REPS):
        out.append({"type": "rep", "event_id": eid(), "rep": rep, "kind": "hired",
                    "occurred_at": f"2017-0{4 + i}-01T00:00:00Z"})
    out.append({"type": "rep", "event_id": eid(), "rep": "Cy", "kind": "left",
                "occurred_at": "2017-08-15T00:00:00Z"})
    for i in range(25):
        versions = rng.randrange(1, 4)
        source = rng.choice([None, "webinar", "Summer17"])
        for v in range(1, versions + 1):
            last = v == versions
            status = rng.choice(["won", "won", "lost", "open"]) if last else "open"
            ev = {"type": "deal", "event_id": eid(), "deal_id": f"D{i}", "version": v,
                  "owner": rng.choice(REPS), "stage": status, "status": status,
                  "occurred_at": f"2017-05-0{v}T00:00:00Z",
                  "amount": f"{rng.randrange(500, 9000)}.{rng.randrange(100):02d}"
                  if status != "open" or rng.random() < 0.7 else None}
            if status in ("won", "lost"):
                ev["closed_on"] = f"2017-0{rng.choice([5, 8])}-20"
                if rng.random() < 0.7:
                    ev["engaged_on"] = f"2017-0{rng.choice([1, 2, 3])}-{rng.randrange(1, 29):02d}"
            if source is not None and (last or rng.random() < 0.5):
                ev["lead_source"] = source  # an older version may lack it: the latest counts
            out.append(ev)
    return out


def quarter(text: str) -> str:
    return f"{text[:4]}-Q{(int(text[5:7]) - 1) // 3 + 1}"


def expected(events: list[dict[str, Any]], grouping: str) -> dict[Any, dict[str, Any]]:
    """Every kpis-plugin figure per group, from the raw events (latest deal version wins)."""
    latest: dict[str, dict[str, Any]] = {}
    for e in events:
        if e["type"] == "deal" and (e["deal_id"] not in latest or e["version"] > latest[e["deal_id"]]["version"]):
            latest[e["deal_id"]] = e
    facts = [e for e in events if e["type"] not in ("deal",)]

    def key(e: dict[str, Any]) -> Any:
        if grouping == "all":
            return "all"
        if grouping == "rep":
            return e.get("owner") or e.get("rep")
        day = e.get("closed_on") if e["type"] == "deal" else None
        if e["type"] == "cost":
            p = e["period"]
            day = p + "-01" if len(p) == 7 and "Q" not in p else f"{p[:4]}-{(int(p[6]) - 1) * 3 + 1:02d}-01"
        elif e["type"] != "deal":
            day = e["occurred_at"][:10]
        return quarter(day) if day else None

    s: dict[Any, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for d in latest.values():
        g = s[key(d)]
        amount = Decimal(d["amount"]) if d["amount"] is not None else None
        g["n_" + d["status"]] += 1
        if d["status"] == "won" and d.get("engaged_on"):
            g["cycle_n"] += 1
            g["cycle_days"] += (dt.date.fromisoformat(d["closed_on"]) - dt.date.fromisoformat(d["engaged_on"])).days
        if d["status"] == "won":
            g["won"] += amount or 0
            if d.get("lead_source"):
                g["ms_won"] += amount or 0
                g["ms_n"] += 1
        if d["status"] == "open" and d.get("lead_source") and amount is not None:
            g["ms_open"] += amount
    for f in facts:
        g = s[key(f)]
        if f["type"] == "lead":
            g[f["kind"]] += 1
        elif f["type"] == "activity" and f["kind"] != "call":
            g[f["kind"] + "_min"] += f["duration_minutes"]
            g[f["kind"] + "_n"] += 1
        elif f["type"] == "cost":
            g["cost_" + f["category"]] += Decimal(f["amount"])
        elif f["type"] == "customer":
            g[f["kind"]] += 1
            g[f["kind"] + "_amt"] += Decimal(f.get("amount", 0))
        elif f["type"] == "rep":
            g["rep_" + f["kind"]] += 1
    out = {}
    for k, g in s.items():
        velocity = None
        closed = g["n_won"] + g["n_lost"]
        if g["n_won"] and closed and g["cycle_n"] and g["cycle_days"]:
            win_rate = Fraction(int(g["n_won"]), int(closed))
            size = Fraction(g["won"]) / int(g["n_won"])
            cycle = Fraction(int(g["cycle_days"]), int(g["cycle_n"]))
            v = int(g["n_open"]) * win_rate * size / cycle
            velocity = (Decimal(v.numerator) / Decimal(v.denominator)).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
        out[k] = {
            "sales_velocity": velocity,
            "mql_to_sal_rate": ratio(g["sal"], g["mql"]),
            "sal_to_sql_rate": ratio(g["sql"], g["sal"]),
            "sql_to_converted_rate": ratio(g["converted"], g["sql"]),
            "lead_disqualification_rate": ratio(g["disqualified"], g["converted"] + g["disqualified"]),
            "marketing_sourced_revenue": g["ms_won"],
            "marketing_sourced_deals": g["ms_n"],
            "marketing_sourced_pipeline": g["ms_open"],
            "marketing_sourced_share": ratio(g["ms_won"], g["won"]),
            "marketing_cost": g["cost_marketing"],
            "sales_cost": g["cost_sales"],
            "total_cost": g["cost_marketing"] + g["cost_sales"] + g["cost_other"],
            "sales_and_marketing_cost": g["cost_marketing"] + g["cost_sales"],
            "marketing_roi": ratio(g["ms_won"], g["cost_marketing"]),
            "churned_customers": g["churned"],
            "renewed_customers": g["renewed"],
            "churned_revenue": g["churned_amt"],
            "renewed_revenue": g["renewed_amt"],
            "renewal_rate": ratio(g["renewed"], g["renewed"] + g["churned"]),
            "revenue_retention": ratio(g["renewed_amt"], g["renewed_amt"] + g["churned_amt"]),
            "coaching_hours": hours(int(g["coaching_min"])),
            "training_hours": hours(int(g["training_min"])),
            "call_review_hours": hours(int(g["call_review_min"])),
            "coaching_sessions": g["coaching_n"],
            "reps_hired": g["rep_hired"],
            "reps_left": g["rep_left"],
        }
    return out


NAMES = [m.name for m in kpis_plugin.METRICS]


def test_every_metric_is_checked_here() -> None:
    assert set(NAMES) == set(expected(stream(), "all")["all"])


@pytest.mark.parametrize("grouping", ["all", "rep", "quarter"])
def test_figures_match_an_independent_computation(engine: Engine, grouping: str) -> None:
    events = stream()
    res = engine.process([Record(dict(e), source="t") for e in events])
    assert res.rejected == 0
    want = expected(events, grouping)
    rows = {r["key"]: r for r in engine.kpis("default", grouping)}
    assert set(rows) == set(want)
    for k, figures in want.items():
        for name, value in figures.items():
            assert same(rows[k][name], value), (k, name, rows[k][name], value)
    # the figures survive a rebuild from the stored snapshots and facts
    engine.rebuild("default")
    again = {r["key"]: r for r in engine.kpis("default", grouping)}
    assert again == rows


def test_hand_figures() -> None:
    """A tiny stream whose figures are worked out by hand in the comments."""
    pm = make_plugins({"kpis": kpis_plugin})
    events = [
        # 4 MQLs, 2 SALs, 1 SQL: MQL→SAL 2/4 = 0.5, SAL→SQL 1/2 = 0.5, SQL→converted 1/1 = 1
        *({"type": "lead", "event_id": f"l{i}", "lead_id": f"L{i}", "kind": "mql",
           "occurred_at": "2017-07-01T00:00:00Z"} for i in range(4)),
        *({"type": "lead", "event_id": f"s{i}", "lead_id": f"L{i}", "kind": "sal",
           "occurred_at": "2017-07-02T00:00:00Z"} for i in range(2)),
        {"type": "lead", "event_id": "q0", "lead_id": "L0", "kind": "sql", "occurred_at": "2017-07-03T00:00:00Z"},
        {"type": "lead", "event_id": "c0", "lead_id": "L0", "kind": "converted", "deal_id": "D1",
         "occurred_at": "2017-07-04T00:00:00Z"},
        # won 1000 (sourced) + 3000 (not): sourced share 1000/4000 = 0.25; marketing cost 400: ROI 2.5
        {"type": "deal", "event_id": "d1", "deal_id": "D1", "version": 1, "owner": "Ann", "stage": "Won",
         "status": "won", "amount": "1000", "closed_on": "2017-07-20", "lead_source": "webinar",
         "occurred_at": "2017-07-20T00:00:00Z"},
        {"type": "deal", "event_id": "d2", "deal_id": "D2", "version": 1, "owner": "Ann", "stage": "Won",
         "status": "won", "amount": "3000", "closed_on": "2017-07-21", "occurred_at": "2017-07-21T00:00:00Z"},
        {"type": "cost", "event_id": "k1", "cost_id": "K1", "category": "marketing", "amount": "400",
         "period": "2017-07"},
        # 90 + 45 coaching minutes = 2.25 hours
        {"type": "activity", "event_id": "a1", "activity_id": "A1", "kind": "coaching", "owner": "Ann",
         "duration_minutes": 90, "occurred_at": "2017-07-05T00:00:00Z"},
        {"type": "activity", "event_id": "a2", "activity_id": "A2", "kind": "coaching", "owner": "Ann",
         "duration_minutes": 45, "occurred_at": "2017-07-06T00:00:00Z"},
        # 1 churned (2000), 3 renewed (6000 in all): renewal 3/4 = 0.75, revenue 6000/8000 = 0.75
        {"type": "customer", "event_id": "u1", "account": "X", "kind": "churned", "amount": "2000",
         "occurred_at": "2017-07-01T00:00:00Z"},
        *({"type": "customer", "event_id": f"r{i}", "account": f"Y{i}", "kind": "renewed",
           "amount": "2000", "occurred_at": "2017-07-01T00:00:00Z"} for i in range(3)),
    ]
    row = assert_order_independent(events, lambda e: e.kpis("default", "all"), plugins=pm)[0]
    assert row["mql_to_sal_rate"] == Decimal("0.5") and row["sal_to_sql_rate"] == Decimal("0.5")
    assert row["sql_to_converted_rate"] == 1
    assert row["marketing_sourced_share"] == Decimal("0.25") and row["marketing_roi"] == Decimal("2.5")
    assert row["coaching_hours"] == Decimal("2.25") and row["coaching_sessions"] == 2
    assert row["renewal_rate"] == Decimal("0.75") and row["revenue_retention"] == Decimal("0.75")


def test_order_independent_under_shuffles_and_redelivery() -> None:
    """Lead conversion, attribution and every other figure: the same whatever the order, the
    batch cuts and the duplicates (assert_order_independent compares each variant)."""
    pm = make_plugins({"kpis": kpis_plugin})
    events = stream(seed=9)

    def read(e: Engine) -> Any:
        return {g: e.kpis("default", g) for g in ("rep", "quarter")}

    got = assert_order_independent(events, read, plugins=pm, seeds=(1, 2), batch_sizes=(1, 13))
    want = expected(events, "rep")
    for row in got["rep"]:
        for name in ("mql_to_sal_rate", "sal_to_sql_rate", "marketing_sourced_revenue"):
            assert same(row[name], want[row["key"]][name])
