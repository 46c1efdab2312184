"""KPIs do not depend on arrival order, redelivery, stale versions or batch boundaries, and they
are the README's definitions applied to the events (tests/reference.py, plain Python).

Deal events are snapshots: the highest version of a deal wins. Lead and activity events are
facts, each counted once. Whatever order a stream of events arrives in, however often an event is
redelivered and however the stream is cut into batches, the KPIs of every grouping must be the
reference's, computed straight from the list of events and the reference data.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from attain.core.cli import import_source
from attain.core.engine import Engine, Record, Result
from attain.core.models import Account, Product, Rep
from attain.core.plugins import get_plugins
from attain.core.store import Store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference import (
    GROUPINGS,
    KPIS,
    RefData,
    big_deal,
    bundled_deals,
    bundled_ref,
    reference_kpis,
)
from testkit import Cli, copy_sqlite

TENANT = "default"

# Reference data with gaps on purpose: "Cy" is not on the roster and "Dee" has no region;
# "Gamma" is not in the account list and "Delta" has no sector; "Unlisted" is not in the
# catalogue and "MG Special" has no list price (open deals of either have no pipeline value).
OWNERS = ["Ann", "Bob", "Cy", "Dee"]
PRODUCTS = ["GTX Basic", "GTX Pro", "MG Special", "Unlisted", None]
ACCOUNTS = ["Acme", "Beta", "Delta", "Gamma", None]
REPS = [Rep(name="Ann", manager="Mia", region="East"), Rep(name="Bob", manager="Max", region="West"),
        Rep(name="Dee", manager="Mia", region=None)]
ACCOUNT_LIST = [Account(name="Acme", sector="technology"), Account(name="Beta", sector="retail"),
                Account(name="Delta", sector=None)]
CATALOGUE = [Product(name="GTX Basic", series="GTX", list_price=Decimal("550")),
             Product(name="GTX Pro", series="GTX", list_price=Decimal("4821.50")),
             Product(name="MG Special", series="MG", list_price=None)]
REF = RefData(roster={r.name: (r.manager, r.region) for r in REPS},
              sectors={a.name: a.sector for a in ACCOUNT_LIST},
              catalogue={p.name: (p.series, p.list_price) for p in CATALOGUE})
# The example partner plugin's KPI is a column too when it is installed (it is in scripts/test).
EXTRA = {"big_deal_count": big_deal} if "big_deal_count" in get_plugins().metrics else {}
KPIS_PLUGIN = "mql_to_sal_rate" in get_plugins().metrics  # the bundled kpis plugin's figures

# 150 generated cases here and 40 through the CLI below (each runs `attain ingest` twice) explore
# well (deal histories, facts, amounts in every JSON form) and keep this module at about 40 s on
# the 2-core development machine (about twice that with the coverage report).
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def db_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ordering")


@pytest.fixture(scope="module")
def template(db_dir: Path) -> Path:
    """An empty, migrated SQLite database; each example starts from a copy (migrations are the
    slow part of a new database)."""
    path = db_dir / "template.db"
    Store(f"sqlite:///{path}").dispose()
    return path


class FreshDb:
    """A new SQLite database (one per hypothesis example) with an engine over it."""

    def __init__(self, directory: Path, template: Path | None = None) -> None:
        path = directory / f"{uuid.uuid4().hex}.db"
        self.url = copy_sqlite(template, path) if template else f"sqlite:///{path}"
        self.store = Store(self.url)
        self.engine = Engine(self.store, get_plugins())

    def __enter__(self) -> FreshDb:
        return self

    def __exit__(self, *exc: object) -> None:
        self.store.dispose()


def all_kpis(engine: Engine, tenant: str = TENANT) -> dict[str, list[dict[str, object]]]:
    """Every grouping's KPI rows (values compare as numbers: Decimal('1.50') == 1.5)."""
    return {g: engine.kpis(tenant, g) for g in GROUPINGS}


def assert_same_kpis(got: dict[str, list[dict[str, object]]],
                     want: dict[str, list[dict[str, object]]]) -> None:
    """The same groups in the same order, with the same columns and values (None is null)."""
    for grouping in GROUPINGS:
        g_rows, w_rows = got[grouping], want[grouping]
        assert [r["key"] for r in g_rows] == [r["key"] for r in w_rows], (
            f"--by {grouping}: groups differ:\n got  {g_rows}\n want {w_rows}")
        for g, w in zip(g_rows, w_rows, strict=True):
            assert g == w, f"--by {grouping}, key {g['key']!r}:\n got  {g}\n want {w}"


def expected(events: list[dict[str, Any]]) -> dict[str, list[dict[str, object]]]:
    return reference_kpis([to_json(e) for e in events], REF, extra=EXTRA, kpis_plugin=KPIS_PLUGIN)


# -- generated event streams ---------------------------------------------------------------------


@st.composite
def amounts(draw: st.DrawFn) -> Decimal:
    """Valid amounts: up to 14 whole digits and 6 decimals (the model's bounds), small ones and
    long ones (beyond a float's 15–17 digits), and a few chosen by hand."""
    places = draw(st.integers(0, 6))
    units = draw(st.integers(0, 10**7) | st.integers(0, 10 ** (14 + places) - 1))
    return draw(st.just(Decimal(units).scaleb(-places))
                | st.sampled_from([Decimal("1054.5"), Decimal("0.1"), Decimal("10000000000000.000001"),
                                   Decimal("99999999999999.999999"), Decimal("12345678901234.123456")]))


days = st.dates(dt.date(2016, 10, 1), dt.date(2018, 3, 31))
AMOUNT_FORMS = ["string", "number", "exponent"]


@st.composite
def snapshots(draw: st.DrawFn) -> dict[str, Any]:
    """The state of a deal at one version (owner, product, account and quarter may change)."""
    status = draw(st.sampled_from(["open", "won", "lost"]))
    engaged = draw(st.none() | days)
    if status == "open":
        amount, closed = draw(st.none() | amounts()), None
    else:
        amount = draw(amounts())
        closed = draw(st.dates(engaged or dt.date(2016, 10, 1), dt.date(2018, 6, 30)))
    return {
        "owner": draw(st.sampled_from(OWNERS)),
        "product": draw(st.sampled_from(PRODUCTS)),
        "account": draw(st.sampled_from(ACCOUNTS)),
        "stage": {"open": "Engaging", "won": "Closed Won", "lost": "Closed Lost"}[status],
        "status": status,
        "amount": amount,
        "engaged_on": engaged,
        "closed_on": closed,
        "amount_form": draw(st.sampled_from(AMOUNT_FORMS)),
    }


def to_json(ev: dict[str, Any]) -> str:
    """One JSON line; the amount as a JSON string, a plain JSON number (e.g. ``1054.5``) or a
    JSON number in exponent form (``1.0545E+3``)."""
    body = {k: v for k, v in ev.items() if k not in ("amount", "amount_form")}
    for k in ("engaged_on", "closed_on"):
        if isinstance(body.get(k), dt.date):
            body[k] = body[k].isoformat()
    text = json.dumps(body)
    if "amount" not in ev:
        return text
    amount = ev["amount"]
    if amount is None:
        return text[:-1] + ', "amount": null}'
    form = ev.get("amount_form", "string")
    if form == "number":
        return text[:-1] + f', "amount": {amount:f}}}'
    if form == "exponent":
        return text[:-1] + f', "amount": {amount:E}}}'
    return text[:-1] + f', "amount": "{amount:f}"}}'


@st.composite
def deal_histories(draw: st.DrawFn) -> list[list[dict[str, Any]]]:
    """Several deals, each with one or more versions (increasing, not necessarily contiguous)."""
    n_deals = draw(st.integers(1, 6))
    out = []
    for d in range(n_deals):
        states = draw(st.lists(snapshots(), min_size=1, max_size=4))
        versions = sorted(draw(st.lists(st.integers(0, 40), min_size=len(states),
                                        max_size=len(states), unique=True)))
        hour = 0
        events = []
        for v, s in zip(versions, states, strict=True):
            hour += 1
            events.append({"type": "deal", "event_id": f"deal-{d}-v{v}", "deal_id": f"D{d}",
                           "version": v, "occurred_at": f"2017-01-01T{hour:02d}:00:00Z", **s})
        out.append(events)
    return out


TZS = {"Z": dt.timedelta(0), "+02:00": dt.timedelta(hours=2), "-05:30": dt.timedelta(hours=-5, minutes=-30),
       "": dt.timedelta(0)}  # "" = a naive time, taken as UTC
# Around a quarter's end (the time zone decides the date) and anywhere in two years.
moments = (st.datetimes(dt.datetime(2017, 3, 31, 18), dt.datetime(2017, 4, 1, 6))
           | st.datetimes(dt.datetime(2016, 10, 1), dt.datetime(2018, 6, 30)))


def _written(local: dt.datetime, tz: str) -> str:
    return local.isoformat() + tz


@st.composite
def fact_events(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Lead events (with or without owner and first response) and activity events."""
    out: list[dict[str, Any]] = []
    for i in range(draw(st.integers(0, 6))):
        local, tz = draw(moments), draw(st.sampled_from(list(TZS)))
        if draw(st.booleans()):
            ev: dict[str, Any] = {
                "type": "lead", "event_id": f"lead-{i}", "lead_id": f"L{i % 3}",
                "occurred_at": _written(local, tz),
                "kind": draw(st.sampled_from(["created", "mql", "sal", "sql", "converted",
                                              "disqualified"])),
                "owner": draw(st.sampled_from([*OWNERS, None])),
            }
            if draw(st.booleans()):
                delay = draw(st.timedeltas(dt.timedelta(0), dt.timedelta(days=10)))
                tz2 = draw(st.sampled_from(list(TZS)))
                ev["first_response_at"] = _written(local - TZS[tz] + delay + TZS[tz2], tz2)
        else:
            ev = {"type": "activity", "event_id": f"act-{i}", "activity_id": f"A{i}",
                  "occurred_at": _written(local, tz),
                  "kind": draw(st.sampled_from(["call", "email", "meeting", "demo"])),
                  "owner": draw(st.sampled_from(OWNERS)), "account": draw(st.sampled_from(ACCOUNTS))}
        out.append(ev)
    return out


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[list[dict[str, Any]]]]:
    """(every distinct event, the stream cut into batches): every event once, some twice or
    more (redelivered with the same event_id), in any order."""
    events = [e for h in draw(deal_histories()) for e in h] + draw(fact_events())
    redelivered = draw(st.lists(st.sampled_from(events), max_size=len(events)))
    stream = draw(st.permutations(events + redelivered))
    batches: list[list[dict[str, Any]]] = []
    rest = list(stream)
    while rest:
        size = draw(st.integers(1, max(1, len(rest))))
        batches.append(rest[:size])
        rest = rest[size:]
    return events, batches


def expected_outcomes(stream: list[dict[str, Any]]) -> dict[str, int]:
    """What `attain ingest` reports for ``stream`` in this order: an event id seen before is a
    duplicate (the same event again) or a conflict (another event reusing the id); a deal version
    not above the highest seen so far is stale; the rest is accepted."""
    seen: dict[str, dict[str, Any]] = {}
    top: dict[str, int] = {}
    out = {"accepted": 0, "duplicates": 0, "stale": 0, "conflicts": 0, "rejected": 0}
    for e in stream:
        if e["event_id"] in seen:
            out["duplicates" if seen[e["event_id"]] == e else "conflicts"] += 1
            continue
        seen[e["event_id"]] = e
        if e["type"] == "deal":
            if e["deal_id"] in top and e["version"] <= top[e["deal_id"]]:
                out["stale"] += 1
                continue
            top[e["deal_id"]] = e["version"]
        out["accepted"] += 1
    return out


def process(engine: Engine, events: list[dict[str, Any]]) -> Result:
    return engine.process([Record(to_json(e), source="test") for e in events])


# -- properties ----------------------------------------------------------------------------------


@SETTINGS
@given(case=deliveries(), roster_first=st.booleans())
def test_any_order_duplicates_and_batches_give_the_reference_kpis(
        db_dir: Path, template: Path, case: Any, roster_first: bool) -> None:
    events, batches = case
    stream = [e for b in batches for e in b]
    with FreshDb(db_dir, template) as db:
        if roster_first:
            db.engine.save_dimensions(TENANT, REPS, ACCOUNT_LIST, CATALOGUE)
        total = Result()
        for batch in batches:
            total.add(process(db.engine, batch))
        if not roster_first:  # reference data loaded after the events regroups them all the same
            db.engine.save_dimensions(TENANT, REPS, ACCOUNT_LIST, CATALOGUE)
        assert total.as_dict() == expected_outcomes(stream)
        assert_same_kpis(all_kpis(db.engine), expected(stream))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=deliveries())
def test_reingesting_the_same_file_changes_no_kpi(db_dir: Path, template: Path, case: Any) -> None:
    events, batches = case
    stream = [e for b in batches for e in b]
    path = db_dir / f"{uuid.uuid4().hex}.jsonl"
    path.write_text("".join(to_json(e) + "\n" for e in stream))
    want = expected(stream)
    with FreshDb(db_dir, template) as db:
        db.engine.save_dimensions(TENANT, REPS, ACCOUNT_LIST, CATALOGUE)
        cli = Cli(db.url)
        first = cli("ingest", str(path), "--batch-size", "3", "--quiet").stdout
        o = expected_outcomes(stream)
        assert first.strip() == (f"accepted {o['accepted']}, duplicates {o['duplicates']}, "
                                 f"stale {o['stale']}, conflicts 0, rejected 0")
        assert_same_kpis(all_kpis(db.engine), want)
        second = cli("ingest", str(path), "--quiet").stdout
        assert second.strip() == (
            f"accepted 0, duplicates {len(stream)}, stale 0, conflicts 0, rejected 0"), second
        assert_same_kpis(all_kpis(db.engine), want)


def test_a_redelivered_stale_version_does_not_resurrect_an_old_state(db_dir: Path) -> None:
    """A concrete case of the property: won (v3) then the open v1 again, alone in its batch."""
    v1 = {"type": "deal", "event_id": "x-1", "deal_id": "X", "version": 1,
          "occurred_at": "2017-01-01T00:00:00Z", "owner": "Ann", "product": "GTX Pro",
          "account": "Acme", "stage": "Prospecting", "status": "open", "amount": None,
          "engaged_on": None, "closed_on": None}
    v3 = {**v1, "event_id": "x-3", "version": 3, "stage": "Won", "status": "won",
          "amount": Decimal("1000.50"), "engaged_on": dt.date(2017, 1, 2),
          "closed_on": dt.date(2017, 2, 3)}
    with FreshDb(db_dir) as db:
        db.engine.save_dimensions(TENANT, REPS, ACCOUNT_LIST, CATALOGUE)
        assert process(db.engine, [v3]).accepted == 1
        res = process(db.engine, [v1])
        assert (res.accepted, res.stale) == (0, 1)
        res = process(db.engine, [v1, v3])
        assert res.duplicates == 2
        (row,) = db.engine.kpis(TENANT, "all")
        assert (row["won_deals"], row["open_deals"], row["won_revenue"]) == (1, 0, Decimal("1000.50"))
        assert row["pipeline_value"] == 0


def test_a_deal_that_moves_leaves_no_empty_group_behind(db_dir: Path) -> None:
    """A deal reassigned to another rep and account, in a later batch, must not leave its old
    rep, account and sector as groups of zeros: the KPIs are those of the latest version only."""
    v1 = {"type": "deal", "event_id": "m-1", "deal_id": "M", "version": 1,
          "occurred_at": "2017-01-01T00:00:00Z", "owner": "Ann", "product": "GTX Basic",
          "account": "Acme", "stage": "Engaging", "status": "open", "amount": Decimal("10"),
          "engaged_on": None, "closed_on": None, "amount_form": "number"}
    v2 = {**v1, "event_id": "m-2", "version": 2, "owner": "Bob", "account": "Beta"}
    with FreshDb(db_dir) as db:
        db.engine.save_dimensions(TENANT, REPS, ACCOUNT_LIST, CATALOGUE)
        process(db.engine, [v1])
        process(db.engine, [v2])
        assert [r["key"] for r in db.engine.kpis(TENANT, "rep")] == ["Bob"]
        assert [r["key"] for r in db.engine.kpis(TENANT, "sector")] == ["retail"]
        assert_same_kpis(all_kpis(db.engine), expected([v1, v2]))


# -- the bundled data set, shuffled and partly redelivered ---------------------------------------


@pytest.fixture(scope="module")
def plain_import(db_dir: Path, bundled_dir: Path) -> Iterator[tuple[Result, dict[str, Any]]]:
    with FreshDb(db_dir) as db:
        res = import_source(db.engine, "crm-csv", str(bundled_dir), TENANT, quiet=True)
        yield res, all_kpis(db.engine)


def _deal_kpis(rows: dict[str, list[dict[str, object]]]) -> dict[str, list[dict[str, object]]]:
    """The rows with the deal KPIs only (the bundled data set has no facts)."""
    return {g: [{k: r[k] for k in ["key", *KPIS[:8]]} for r in rows[g]] for g in GROUPINGS}


def test_bundled_plain_import_gives_the_reference_kpis(plain_import: tuple[Result, dict[str, Any]]) -> None:
    plain_result, got = plain_import
    assert plain_result.rejected == 0
    assert _deal_kpis(got) == _deal_kpis(reference_kpis(bundled_deals(), bundled_ref()))


def test_bundled_shuffled_with_duplicates_gives_the_plain_import_kpis(
        db_dir: Path, bundled_dir: Path, plain_import: tuple[Result, dict[str, Any]]) -> None:
    plain_result, want = plain_import
    assert plain_result.rejected == 0
    batch = get_plugins().connectors["crm-csv"].read(str(bundled_dir), TENANT)
    records = list(batch.records)
    rng = random.Random(20170401)
    redelivered = rng.sample(records, len(records) // 10)
    stream = records + redelivered
    rng.shuffle(stream)
    with FreshDb(db_dir) as db:
        total = Result()
        i = 0
        while i < len(stream):
            size = rng.randint(1, 4000)
            total.add(db.engine.process(stream[i:i + size]))
            i += size
        # The roster, accounts and products arrive after the deals: figures regroup on read.
        db.engine.save_dimensions(TENANT, batch.reps, batch.accounts, batch.products)
        assert total.rejected == 0
        assert total.duplicates == len(redelivered)
        assert total.accepted + total.stale == len(records)
        assert total.stale > 0  # the shuffle did deliver older versions after newer ones
        assert_same_kpis(all_kpis(db.engine), want)


def test_bundled_reimport_changes_no_kpi(db_dir: Path, bundled_dir: Path,
                                         plain_import: tuple[Result, dict[str, Any]]) -> None:
    plain_result, want = plain_import
    with FreshDb(db_dir) as db:
        first = import_source(db.engine, "crm-csv", str(bundled_dir), TENANT, quiet=True)
        assert first.as_dict() == plain_result.as_dict()
        again = import_source(db.engine, "crm-csv", str(bundled_dir), TENANT, quiet=True)
        assert again.as_dict() == {"accepted": 0, "duplicates": first.accepted, "stale": 0,
                                   "conflicts": 0, "rejected": 0}
        assert_same_kpis(all_kpis(db.engine), want)
