"""KPI views (issue 14/15): time groupings (year, quarter, month, ISO week, day), several groupings
at once, ``--period`` on any read, ``--metrics`` columns. Expected figures are computed here in
plain Python over the events (the KPI day: a deal's closed_on, a fact's UTC day of occurred_at);
the roll-up (fast) path and the scan path must both give them, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from attain.core import Account, Engine, Product, Record, Rep, Store
from testkit import Cli

REPS = {"Ann": ("Mia", "East"), "Bob": ("Mia", "East"), "Cy": ("Ola", "West"), "Di": ("Ola", "West")}
PRODUCTS: dict[str, tuple[str, Decimal | None]] = {
    "P1": ("Alpha", Decimal("100.00")), "P2": ("Alpha", Decimal("250.50")), "P3": ("Beta", None)}
ACCOUNTS = {"Acme": "retail", "Globex": "software", "Initech": "software"}


def make_events(seed: int = 11) -> list[dict[str, Any]]:
    """Deals (won, lost, open with and without an amount) closing over 2017-2018, each with an
    older version that counts nowhere, and calls at times whose UTC day differs from their
    local day."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for i in range(120):
        owner, product, account = rng.choice(list(REPS)), rng.choice([*PRODUCTS, None]), rng.choice([*ACCOUNTS, None])
        closed = dt.date(2017, 1, 1) + dt.timedelta(days=rng.randrange(0, 600))
        status = rng.choice(["won", "won", "lost", "open", "open"])
        amount = None if status == "open" and rng.random() < 0.5 else f"{rng.randint(1, 9000)}.{rng.randint(0, 99):02d}"
        base = {"type": "deal", "deal_id": f"D{i}", "owner": owner, "product": product, "account": account,
                "occurred_at": "2017-01-01T00:00:00Z"}
        events.append({**base, "event_id": f"D{i}-1", "version": 1, "stage": "Prospecting", "status": "open",
                       "amount": "1.00", "owner": "Cy"})
        events.append({**base, "event_id": f"D{i}-2", "version": 2, "stage": status.title(), "status": status,
                       "amount": amount, "engaged_on": "2016-12-01",
                       "closed_on": None if status == "open" else closed.isoformat()})
    for i in range(80):
        utc = dt.datetime(2017, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=rng.randrange(0, 600 * 24 * 60))
        tz = dt.timezone(dt.timedelta(hours=rng.choice([-7, 0, 5])))
        events.append({"type": "activity", "event_id": f"A{i}", "activity_id": f"A{i}", "kind": "call",
                       "owner": rng.choice(list(REPS)), "account": rng.choice([*ACCOUNTS, None]),
                       "occurred_at": utc.astimezone(tz).isoformat()})
    rng.shuffle(events)
    return events


# -- the expectation, in plain Python ------------------------------------------------------------


def latest(events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    deals: dict[str, dict[str, Any]] = {}
    facts = []
    for e in events:
        if e["type"] == "deal":
            if e["deal_id"] not in deals or e["version"] > deals[e["deal_id"]]["version"]:
                deals[e["deal_id"]] = e
        else:
            facts.append(e)
    return list(deals.values()), facts


def kpi_day(e: dict[str, Any]) -> dt.date | None:
    if e["type"] == "deal":
        return None if e.get("closed_on") is None else dt.date.fromisoformat(e["closed_on"])
    return dt.datetime.fromisoformat(e["occurred_at"]).astimezone(dt.UTC).date()


def period_label(grain: str, day: dt.date | None) -> str | None:
    if day is None:
        return None
    if grain == "year":
        return str(day.year)
    if grain == "quarter":
        return f"{day.year}-Q{(day.month + 2) // 3}"
    if grain == "month":
        return f"{day.year}-{day.month:02d}"
    if grain == "week":
        y, w, _ = day.isocalendar()
        return f"{y}-W{w:02d}"
    return day.isoformat()


def attr(grouping: str, e: dict[str, Any], catalogue: bool = True) -> str | None:
    owner = e.get("owner")
    if grouping == "all":
        return "all"
    if grouping == "rep":
        return owner
    if grouping in ("manager", "region"):
        if owner not in REPS:
            return None
        m, r = REPS[owner]
        return m if grouping == "manager" else r
    if grouping == "product":
        return e.get("product")
    if grouping == "series":
        return PRODUCTS[e["product"]][0] if e.get("product") else None
    if grouping == "account":
        return e.get("account")
    if grouping == "sector":
        return ACCOUNTS[e["account"]] if e.get("account") else None
    return period_label(grouping, kpi_day(e))


def expected(events: list[dict[str, Any]], groupings: list[str],
             keep: Callable[[dt.date | None], bool] = lambda d: True,
             clip: Callable[[str, dt.date], str] | None = None) -> dict[Any, dict[str, Decimal]]:
    """won_revenue, won_deals, lost_deals, open_deals, pipeline_value and calls per group."""
    deals, facts = latest(events)
    out: dict[Any, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for e in [*deals, *facts]:
        day = kpi_day(e)
        if not keep(day):
            continue
        parts = tuple(attr(g, e) for g in groupings)
        key = parts if len(groupings) > 1 else parts[0]
        row = out[key]
        if e["type"] == "activity":
            row["calls"] += 1
        elif e["status"] == "won":
            row["won_deals"] += 1
            row["won_revenue"] += Decimal(e["amount"])
        elif e["status"] == "lost":
            row["lost_deals"] += 1
        else:
            row["open_deals"] += 1
            if e["amount"] is not None:
                row["pipeline_value"] += Decimal(e["amount"])
            elif e["product"] and (price := PRODUCTS[e["product"]][1]) is not None:
                row["pipeline_value"] += price
    return out


COLUMNS = ["won_revenue", "won_deals", "lost_deals", "open_deals", "pipeline_value", "calls"]


def figures(rows: list[dict[str, object]]) -> dict[Any, dict[str, Decimal]]:
    out = {}
    for r in rows:
        k = r["key"]
        key = tuple(k) if isinstance(k, list) else k
        out[key] = {c: Decimal(str(r[c])) for c in COLUMNS if Decimal(str(r[c])) != 0}
    return out


def want(exp: dict[Any, dict[str, Decimal]]) -> dict[Any, dict[str, Decimal]]:
    return {k: {c: v for c, v in row.items() if v != 0} for k, row in exp.items()}


@pytest.fixture
def loaded(engine: Engine) -> tuple[Engine, list[dict[str, Any]]]:
    events = make_events()
    save_reference(engine)
    for i in range(0, len(events), 37):
        engine.process([Record(e) for e in events[i:i + 37]])
    return engine, events


def save_reference(engine: Engine) -> None:
    engine.save_dimensions(
        "default", [Rep(name=n, manager=m, region=r) for n, (m, r) in REPS.items()],
        [Account(name=n, sector=s) for n, s in ACCOUNTS.items()],
        [Product(name=n, series=s, list_price=p) for n, (s, p) in PRODUCTS.items()])


GROUPINGS = [["year"], ["quarter"], ["month"], ["week"], ["day"], ["region", "quarter"],
             ["rep", "month"], ["manager", "week"], ["series", "year"], ["sector", "month"],
             ["account", "quarter"], ["all", "day"],
             # across base dims or grains the roll-ups do not hold: the scan path
             ["rep", "product"], ["region", "sector"], ["account", "week"], ["product", "account", "month"]]


@pytest.mark.parametrize("groupings", GROUPINGS, ids=[",".join(g) for g in GROUPINGS])
def test_time_and_composite_groupings(loaded: tuple[Engine, list[dict[str, Any]]], groupings: list[str]) -> None:
    engine, events = loaded
    rows = engine.kpis("default", groupings)
    assert figures(rows) == want(expected(events, groupings))
    assert all(isinstance(r["key"], list) and len(r["key"]) == len(groupings) for r in rows) or len(groupings) == 1
    revenue = [Decimal(str(r["won_revenue"])) for r in rows]
    assert revenue == sorted(revenue, reverse=True)
    # the scan path (any predicate) gives the same rows, in the same order
    assert engine.kpis("default", groupings, where=lambda e: True) == rows


PERIODS: dict[str, tuple[dt.date, dt.date]] = {
    "2017": (dt.date(2017, 1, 1), dt.date(2017, 12, 31)),
    "2017-Q3": (dt.date(2017, 7, 1), dt.date(2017, 9, 30)),
    "2018-02": (dt.date(2018, 2, 1), dt.date(2018, 2, 28)),
    "2017-W27": (dt.date(2017, 7, 3), dt.date(2017, 7, 9)),
    "2017-07-14": (dt.date(2017, 7, 14), dt.date(2017, 7, 14)),
    "2017-06-17..2018-03-02": (dt.date(2017, 6, 17), dt.date(2018, 3, 2)),
}


@pytest.mark.parametrize("period", list(PERIODS))
@pytest.mark.parametrize("groupings", [["rep"], ["all"], ["region"], ["sector"], ["account"], ["month"],
                                       ["week"], ["rep", "quarter"], ["rep", "product"]],
                         ids=lambda g: ",".join(g))
def test_period_filters_any_read(loaded: tuple[Engine, list[dict[str, Any]]], period: str,
                                 groupings: list[str]) -> None:
    """Only what is attributed to the period's days counts (open deals have no day); a time
    grouping's groups keep their label but count only the days inside the period."""
    engine, events = loaded
    start, end = PERIODS[period]
    rows = engine.kpis("default", groupings, period=period)
    assert figures(rows) == want(expected(events, groupings, lambda d: d is not None and start <= d <= end))
    assert engine.kpis("default", groupings, period=period, where=lambda e: True) == rows


def test_metrics_pick_columns(loaded: tuple[Engine, list[dict[str, Any]]]) -> None:
    engine, events = loaded
    rows = engine.kpis("default", "region", metrics=["calls", "won_revenue"])
    exp = expected(events, ["region"])
    assert {r["key"]: (r["calls"], r["won_revenue"]) for r in rows} == {
        k: (v["calls"], v["won_revenue"]) for k, v in exp.items()}
    assert all(list(r) == ["key", "calls", "won_revenue"] for r in rows)
    with pytest.raises(ValueError, match="unknown metric 'nope'"):
        engine.kpis("default", "rep", metrics=["nope"])


def test_reference_data_loaded_later_regroups_and_reprices(engine: Engine) -> None:
    events = make_events(5)
    engine.process([Record(e) for e in events])
    by_region = figures(engine.kpis("default", ["region", "quarter"]))
    assert {k[0] for k in by_region} == {None}  # no roster yet
    save_reference(engine)
    assert figures(engine.kpis("default", ["region", "quarter"])) == want(expected(events, ["region", "quarter"]))
    # a new list price reprices the open deals without an amount, in every dim
    engine.save_dimensions("default", products=[Product(name="P1", series="Alpha", list_price=Decimal("7.25"))])
    PRODUCTS_BEFORE = dict(PRODUCTS)
    try:
        PRODUCTS["P1"] = ("Alpha", Decimal("7.25"))
        for g in (["region"], ["product"], ["sector", "year"], ["all"]):
            assert figures(engine.kpis("default", g)) == want(expected(events, g)), g
    finally:
        PRODUCTS.clear()
        PRODUCTS.update(PRODUCTS_BEFORE)


def test_cli_groupings_period_metrics(cli: Cli, db_url: str) -> None:
    events = make_events(3)
    engine = Engine(Store(db_url))
    save_reference(engine)
    engine.process([Record(e) for e in events])
    engine.store.dispose()
    rows = cli.json("kpi", "--by", "region,quarter", "--period", "2017", "--metrics", "won_revenue,calls",
                    "--format", "json")
    exp = expected(events, ["region", "quarter"], lambda d: d is not None and d.year == 2017)
    assert {tuple(r["key"]): (r["won_revenue"], r["calls"]) for r in rows} == {
        k: (v["won_revenue"], v["calls"]) for k, v in exp.items()}
    assert all(set(r) == {"key", "won_revenue", "calls"} for r in rows)
    by_rep = cli.kpis("rep")  # one grouping: "key" stays the group itself
    assert {r["key"] for r in by_rep} == set(REPS)
    csv = cli("kpi", "--by", "rep,month", "--metrics", "won_deals", "--format", "csv").stdout
    assert csv.splitlines()[0] == "rep,month,won_deals"
    assert len(csv.splitlines()) == 1 + len(expected(events, ["rep", "month"]))


@pytest.mark.parametrize(("args", "message"), [
    (["--by", "rep,nope"], "unknown grouping 'nope'"),
    (["--by", "month,quarter"], "more than one time grouping"),
    (["--period", "2017-13"], "2017-13"),
    (["--metrics", "won_revenue,nope"], "unknown metric 'nope'"),
])
def test_cli_rejects_bad_views_in_one_line(sqlite_url: str, make_cli: Callable[[str], Cli],
                                           args: list[str], message: str) -> None:
    res = make_cli(sqlite_url)("kpi", *args, ok=False)
    assert res.exit_code == 2
    assert message in " ".join(res.output.replace("│", " ").split())
    assert "Traceback" not in res.output
