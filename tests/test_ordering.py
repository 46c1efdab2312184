"""KPIs do not depend on arrival order, redelivery, stale versions or batch boundaries.

Deal events are snapshots: the highest version of a deal wins. Whatever order a stream of deal
events arrives in, however often an event is redelivered and however the stream is cut into
batches, the KPIs for every grouping must be those of processing each deal's latest version once.
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
from attain.core.kpi import GROUPINGS
from attain.core.models import Account, Product, Rep
from attain.core.plugins import get_plugins
from attain.core.store import Store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from testkit import Cli

TENANT = "default"

# Reference data with gaps on purpose: "Cy" is not on the roster, "Gamma" is not in the account
# list and "Unlisted" is not in the catalogue (so its open deals have no list price).
OWNERS = ["Ann", "Bob", "Cy"]
PRODUCTS = ["GTX Basic", "GTX Pro", "Unlisted", None]
ACCOUNTS = ["Acme", "Beta", "Gamma", None]
REPS = [Rep(name="Ann", manager="Mia", region="East"), Rep(name="Bob", manager="Max", region="West")]
ACCOUNT_LIST = [Account(name="Acme", sector="technology"), Account(name="Beta", sector="retail")]
CATALOGUE = [Product(name="GTX Basic", series="GTX", list_price=Decimal("550")),
             Product(name="GTX Pro", series="GTX", list_price=Decimal("4821.50"))]

SETTINGS = settings(max_examples=30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def db_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ordering")


class FreshDb:
    """A new SQLite database (one per hypothesis example) with an engine over it."""

    def __init__(self, directory: Path) -> None:
        self.url = f"sqlite:///{directory / f'{uuid.uuid4().hex}.db'}"
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
    for grouping in GROUPINGS:
        g_rows, w_rows = got[grouping], want[grouping]
        assert [r["key"] for r in g_rows] == [r["key"] for r in w_rows], (
            f"--by {grouping}: groups differ:\n got  {g_rows}\n want {w_rows}")
        for g, w in zip(g_rows, w_rows, strict=True):
            assert g == w, f"--by {grouping}, key {g['key']!r}:\n got  {g}\n want {w}"


# -- generated deal streams ----------------------------------------------------------------------

amounts = st.builds(lambda units, places: Decimal(units).scaleb(-places),
                    st.integers(0, 10**8), st.integers(0, 3))
days = st.dates(dt.date(2016, 10, 1), dt.date(2018, 3, 31))


@st.composite
def snapshots(draw: st.DrawFn) -> dict[str, Any]:
    """The state of a deal at one version (owner, product, account and quarter may change)."""
    status = draw(st.sampled_from(["open", "won", "lost"]))
    engaged = draw(st.none() | days)
    if status == "open":
        amount, closed = draw(st.none() | amounts), None
    else:
        amount = draw(amounts)
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
        "amount_as_number": draw(st.booleans()),
    }


def to_json(ev: dict[str, Any]) -> str:
    """One JSON line; the amount as an exact JSON number or as a string."""
    body = {k: v for k, v in ev.items() if k not in ("amount", "amount_as_number")}
    for k in ("engaged_on", "closed_on"):
        body[k] = body[k].isoformat() if body[k] is not None else None
    text = json.dumps(body)
    amount = ev["amount"]
    if amount is None:
        return text[:-1] + ', "amount": null}'
    if ev["amount_as_number"]:
        return text[:-1] + f', "amount": {amount:f}}}'
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


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]],
                                         list[list[dict[str, Any]]]]:
    """(histories, latest versions, the stream cut into batches): every event once, some twice
    or more (redelivered with the same event_id), in any order."""
    histories = draw(deal_histories())
    events = [e for h in histories for e in h]
    redelivered = draw(st.lists(st.sampled_from(events), max_size=len(events)))
    stream = draw(st.permutations(events + redelivered))
    batches: list[list[dict[str, Any]]] = []
    rest = list(stream)
    while rest:
        size = draw(st.integers(1, max(1, len(rest))))
        batches.append(rest[:size])
        rest = rest[size:]
    latest = [h[-1] for h in histories]
    return histories, latest, batches


def process(engine: Engine, events: list[dict[str, Any]]) -> Result:
    return engine.process([Record(to_json(e), source="test") for e in events])


def reference_kpis(db_dir: Path, latest: list[dict[str, Any]]) -> dict[str, list[dict[str, object]]]:
    with FreshDb(db_dir) as ref:
        ref.engine.save_dimensions(TENANT, REPS, ACCOUNT_LIST, CATALOGUE)
        res = process(ref.engine, latest)
        assert (res.accepted, res.duplicates, res.stale, res.rejected) == (len(latest), 0, 0, 0)
        return all_kpis(ref.engine)


# -- properties ----------------------------------------------------------------------------------


@SETTINGS
@given(case=deliveries(), roster_first=st.booleans())
def test_any_order_duplicates_and_batches_give_the_latest_versions_kpis(
        db_dir: Path, case: Any, roster_first: bool) -> None:
    histories, latest, batches = case
    want = reference_kpis(db_dir, latest)
    n_events = sum(len(h) for h in histories)
    n_delivered = sum(len(b) for b in batches)
    with FreshDb(db_dir) as db:
        if roster_first:
            db.engine.save_dimensions(TENANT, REPS, ACCOUNT_LIST, CATALOGUE)
        total = Result()
        for batch in batches:
            total.add(process(db.engine, batch))
        if not roster_first:  # reference data loaded after the deals regroups them all the same
            db.engine.save_dimensions(TENANT, REPS, ACCOUNT_LIST, CATALOGUE)
        assert total.rejected == 0
        assert total.duplicates == n_delivered - n_events
        assert total.accepted + total.stale == n_events
        assert total.accepted >= len(latest)
        assert_same_kpis(all_kpis(db.engine), want)


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=deliveries())
def test_reingesting_the_same_file_changes_no_kpi(db_dir: Path, case: Any) -> None:
    histories, latest, batches = case
    stream = [e for b in batches for e in b]
    path = db_dir / f"{uuid.uuid4().hex}.jsonl"
    path.write_text("".join(to_json(e) + "\n" for e in stream))
    want = reference_kpis(db_dir, latest)
    with FreshDb(db_dir) as db:
        db.engine.save_dimensions(TENANT, REPS, ACCOUNT_LIST, CATALOGUE)
        cli = Cli(db.url)
        first = cli("ingest", str(path), "--batch-size", "3", "--quiet").stdout
        n_events = sum(len(h) for h in histories)
        n_dupes = len(stream) - n_events
        assert f"duplicates {n_dupes}," in first and "rejected 0" in first, first
        after_first = all_kpis(db.engine)
        assert_same_kpis(after_first, want)
        second = cli("ingest", str(path), "--quiet").stdout
        assert second.strip() == (
            f"accepted 0, duplicates {len(stream)}, stale 0, conflicts 0, rejected 0"), second
        assert_same_kpis(all_kpis(db.engine), after_first)


def test_a_redelivered_stale_version_does_not_resurrect_an_old_state(db_dir: Path) -> None:
    """A concrete case of the property: won (v3) then the open v1 again, alone in its batch."""
    v1 = {"type": "deal", "event_id": "x-1", "deal_id": "X", "version": 1,
          "occurred_at": "2017-01-01T00:00:00Z", "owner": "Ann", "product": "GTX Pro",
          "account": "Acme", "stage": "Prospecting", "status": "open", "amount": None,
          "engaged_on": None, "closed_on": None, "amount_as_number": False}
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
          "engaged_on": None, "closed_on": None, "amount_as_number": True}
    v2 = {**v1, "event_id": "m-2", "version": 2, "owner": "Bob", "account": "Beta"}
    want = reference_kpis(db_dir, [v2])
    with FreshDb(db_dir) as db:
        db.engine.save_dimensions(TENANT, REPS, ACCOUNT_LIST, CATALOGUE)
        process(db.engine, [v1])
        process(db.engine, [v2])
        assert [r["key"] for r in db.engine.kpis(TENANT, "rep")] == ["Bob"]
        assert [r["key"] for r in db.engine.kpis(TENANT, "sector")] == ["retail"]
        assert_same_kpis(all_kpis(db.engine), want)


# -- the bundled data set, shuffled and partly redelivered ---------------------------------------


@pytest.fixture(scope="module")
def plain_import(db_dir: Path, bundled_dir: Path) -> Iterator[tuple[Result, dict[str, Any]]]:
    with FreshDb(db_dir) as db:
        res = import_source(db.engine, "crm-csv", str(bundled_dir), TENANT, quiet=True)
        yield res, all_kpis(db.engine)


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
