"""The bundled CRM data set, imported through the crm-csv connector, gives the KPIs that plain
Python computes from the raw CSV files, for every grouping and every KPI, on SQLite and PostgreSQL.

The expectations are computed here, independently of the engine, with ``csv`` and ``decimal``,
handling the data set's quirks the way its README and the KPI definitions say:

* ``GTXPro`` in the pipeline is the catalogue's ``GTX Pro`` (names match ignoring spaces/case);
* ``technolgy`` is the sector ``technology``;
* open deals may have no account (their account and sector are unknown: key null);
* lost deals carry close value 0; won revenue is the close value;
* open deals have no amount: pipeline value uses the product's list price;
* the quarter is the calendar quarter of close_date (open deals have none);
* rounding is half-even: win_rate to 4 decimals, avg_deal_size and avg_cycle_days to 2.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from attain.core import cli as cli_module
from attain.core.engine import Engine
from attain.core.plugins import get_plugins
from attain.core.store import Store
from conftest import backend_params, fresh_database
from rich.console import Console
from testkit import BUNDLED_DIR, Cli

GROUPINGS = ["all", "rep", "manager", "region", "product", "series", "sector", "account",
             "quarter"]
KPIS = ["won_revenue", "won_deals", "lost_deals", "open_deals", "win_rate", "avg_deal_size",
        "avg_cycle_days", "pipeline_value"]


# -- expectations from the raw CSV files -----------------------------------------------------------


def _read(name: str) -> list[dict[str, str]]:
    with (BUNDLED_DIR / name).open(newline="", encoding="utf-8-sig") as f:
        return list(csv.DictReader(f))


def _squash(name: str) -> str:
    return "".join(name.split()).lower()


def _date(text: str) -> dt.date | None:
    return dt.date.fromisoformat(text) if text.strip() else None


@dataclass(frozen=True)
class Deal:
    owner: str
    product: str
    account: str | None
    stage: str
    engaged: dt.date | None
    closed: dt.date | None
    close_value: Decimal | None


@dataclass(frozen=True)
class Raw:
    deals: list[Deal]
    raw_products: list[str]
    roster: dict[str, tuple[str, str]]  # agent -> (manager, region)
    sectors: dict[str, str]  # account -> sector (typo fixed)
    catalogue: dict[str, tuple[str, Decimal]]  # product -> (series, list price)


def load_raw() -> Raw:
    catalogue = {r["product"]: (r["series"], Decimal(r["sales_price"]))
                 for r in _read("products.csv")}
    spelled = {_squash(name): name for name in catalogue}
    roster = {r["sales_agent"]: (r["manager"], r["regional_office"])
              for r in _read("sales_teams.csv")}
    sectors = {r["account"]: ("technology" if r["sector"] == "technolgy" else r["sector"])
               for r in _read("accounts.csv")}
    deals, raw_products = [], []
    for r in _read("sales_pipeline.csv"):
        raw_products.append(r["product"])
        deals.append(Deal(
            owner=r["sales_agent"],
            product=spelled[_squash(r["product"])],
            account=r["account"] or None,
            stage=r["deal_stage"],
            engaged=_date(r["engage_date"]),
            closed=_date(r["close_date"]),
            close_value=Decimal(r["close_value"]) if r["close_value"].strip() else None,
        ))
    return Raw(deals, raw_products, roster, sectors, catalogue)


RAW = load_raw()


def _group(grouping: str, d: Deal) -> str | None:
    if grouping == "all":
        return "all"
    if grouping == "rep":
        return d.owner
    if grouping == "manager":
        return RAW.roster[d.owner][0] if d.owner in RAW.roster else None
    if grouping == "region":
        return RAW.roster[d.owner][1] if d.owner in RAW.roster else None
    if grouping == "product":
        return d.product
    if grouping == "series":
        return RAW.catalogue[d.product][0]
    if grouping == "sector":
        return RAW.sectors.get(d.account) if d.account else None
    if grouping == "account":
        return d.account
    if grouping == "quarter":
        if d.stage not in ("Won", "Lost") or d.closed is None:
            return None
        return f"{d.closed.year}-Q{(d.closed.month - 1) // 3 + 1}"
    raise AssertionError(grouping)


def _round(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def expected_kpis(grouping: str) -> dict[str | None, dict[str, Decimal | None]]:
    groups: dict[str | None, list[Deal]] = defaultdict(list)
    for d in RAW.deals:
        groups[_group(grouping, d)].append(d)
    out: dict[str | None, dict[str, Decimal | None]] = {}
    for key, deals in groups.items():
        won = [d for d in deals if d.stage == "Won"]
        lost = [d for d in deals if d.stage == "Lost"]
        open_ = [d for d in deals if d.stage in ("Prospecting", "Engaging")]
        revenue = sum((d.close_value for d in won if d.close_value is not None), Decimal(0))
        cycles = [(d.closed - d.engaged).days for d in won if d.closed and d.engaged]
        # Open deals carry no amount in this data set, so their value is the list price.
        pipeline = sum((d.close_value if d.close_value is not None else RAW.catalogue[d.product][1]
                        for d in open_), Decimal(0))
        closed = len(won) + len(lost)
        out[key] = {
            "won_revenue": revenue,
            "won_deals": Decimal(len(won)),
            "lost_deals": Decimal(len(lost)),
            "open_deals": Decimal(len(open_)),
            "win_rate": _round(Decimal(len(won)) / closed, 4) if closed else None,
            "avg_deal_size": _round(revenue / len(won), 2) if won else None,
            "avg_cycle_days": _round(Decimal(sum(cycles)) / len(cycles), 2) if cycles else None,
            "pipeline_value": pipeline,
        }
    return out


def test_the_raw_data_has_the_documented_quirks() -> None:
    """The expectations above rely on these facts of the files; fail loudly if they change."""
    assert RAW.raw_products.count("GTXPro") == 1480
    assert "GTXPro" not in RAW.catalogue and "GTX Pro" in RAW.catalogue
    assert "technolgy" in {r["sector"] for r in _read("accounts.csv")}
    assert any(d.account is None for d in RAW.deals)
    assert all(d.close_value == 0 for d in RAW.deals if d.stage == "Lost")
    assert all(d.close_value is None and d.closed is None
               for d in RAW.deals if d.stage in ("Prospecting", "Engaging"))
    assert len(set(RAW.roster) - {d.owner for d in RAW.deals}) == 5


# -- the imported database -----------------------------------------------------------------------


@pytest.fixture(scope="module", params=backend_params())
def imported(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """One import of the bundled data per backend, shared by this module's read-only tests."""
    with fresh_database(request.param, tmp_path_factory.mktemp("bundled")) as url:
        cli = Cli(url)
        out = cli("import", "crm-csv", str(BUNDLED_DIR), "--quiet").stdout
        assert "rejected 0" in out, out
        yield cli


def _assert_number(value: Any, where: str) -> None:
    assert isinstance(value, (int, Decimal)) and not isinstance(value, bool), (
        f"{where}: expected a JSON number, got {value!r}")


def _compare(rows: list[dict[str, Any]], expected: dict[str | None, dict[str, Decimal | None]],
             grouping: str, parse: Callable[[Any], Decimal | None] = lambda v: v) -> None:
    got = {r["key"]: r for r in rows}
    assert len(got) == len(rows), f"duplicate keys in --by {grouping}: {[r['key'] for r in rows]}"
    assert set(got) == set(expected), f"--by {grouping}: keys differ"
    for key, want in expected.items():
        for kpi in KPIS:
            value = parse(got[key][kpi])
            where = f"--by {grouping}, key {key!r}, {kpi}"
            if want[kpi] is None:
                assert value is None, f"{where}: expected null, got {value!r}"
            else:
                _assert_number(value, where)
                assert Decimal(value) == want[kpi], f"{where}: got {value}, expected {want[kpi]}"


@pytest.mark.parametrize("grouping", GROUPINGS)
def test_kpi_json_matches_the_csv_files(imported: Cli, grouping: str) -> None:
    rows = imported.kpis(grouping)
    _compare(rows, expected_kpis(grouping), grouping)


@pytest.mark.parametrize("grouping", ["all", "region", "quarter"])
def test_kpi_json_has_the_documented_shape(imported: Cli, grouping: str) -> None:
    rows = imported.kpis(grouping)
    assert isinstance(rows, list) and rows
    # KPIs of installed plugins, then the period metrics (company figures, in every JSON row)
    extra = [n for n in [*get_plugins().metrics, *get_plugins().period_metrics] if n not in KPIS]
    for row in rows:
        assert isinstance(row, dict)
        assert list(row)[:9] == ["key", *KPIS], list(row)
        assert sorted(row) == sorted(["key", *KPIS, *extra])
        assert row["key"] is None or isinstance(row["key"], str)
        for kpi in KPIS:
            if row[kpi] is not None:
                _assert_number(row[kpi], f"{row['key']!r} {kpi}")
    # Sorted by won_revenue descending (ties: key descending).
    order = [(Decimal(r["won_revenue"]), r["key"] or "") for r in rows]
    assert order == sorted(order, reverse=True)


def test_undefined_kpis_are_null(imported: Cli) -> None:
    """Open deals have no quarter: that group has no closed deal, so the ratios are null."""
    rows = {r["key"]: r for r in imported.kpis("quarter")}
    no_quarter = rows[None]
    assert no_quarter["open_deals"] == sum(1 for d in RAW.deals if d.closed is None)
    assert no_quarter["won_deals"] == 0 and no_quarter["lost_deals"] == 0
    assert no_quarter["win_rate"] is None
    assert no_quarter["avg_deal_size"] is None
    assert no_quarter["avg_cycle_days"] is None


@pytest.mark.parametrize("grouping", ["rep", "sector", "quarter"])
def test_kpi_csv_matches_the_csv_files(imported: Cli, grouping: str) -> None:
    out = imported("kpi", "--by", grouping, "--format", "csv").stdout
    reader = csv.DictReader(io.StringIO(out))
    assert reader.fieldnames is not None
    assert reader.fieldnames[:9] == ["key", *KPIS]
    rows = [{**r, "key": r["key"] or None} for r in reader]

    def parse(cell: str) -> Decimal | None:
        return Decimal(cell) if cell != "" else None

    _compare(rows, expected_kpis(grouping), grouping, parse)
    revenue = [Decimal(r["won_revenue"]) for r in rows]
    assert revenue == sorted(revenue, reverse=True)


def test_kpi_table_lists_every_group(imported: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    # The table is for people; give it a wide terminal so no name is cut short.
    monkeypatch.setattr(cli_module, "console", Console(width=250))
    out = imported("kpi", "--by", "region").stdout
    for region in {region for _, region in RAW.roster.values()}:
        assert region in out


def test_gtxpro_deals_count_under_the_catalogue_name(imported: Cli) -> None:
    rows = {r["key"]: r for r in imported.kpis("product")}
    assert "GTXPro" not in rows
    pro = rows["GTX Pro"]
    n_pipeline = sum(1 for p in RAW.raw_products if _squash(p) == "gtxpro")
    assert n_pipeline >= 1480
    assert pro["won_deals"] + pro["lost_deals"] + pro["open_deals"] == n_pipeline
    series = {r["key"]: r for r in imported.kpis("series")}
    assert "GTX" in series and None not in series  # every deal's product is in the catalogue


def test_roster_agents_without_deals_are_reps(imported: Cli) -> None:
    no_deals = set(RAW.roster) - {d.owner for d in RAW.deals}
    assert len(no_deals) == 5
    store = Store(imported.db_url)
    try:
        reps = Engine(store, get_plugins()).dimensions("default").reps
    finally:
        store.dispose()
    assert set(reps) == set(RAW.roster)
    for name in no_deals:
        assert (reps[name].manager, reps[name].region) == RAW.roster[name]
    # They own no deal, so they have no KPI row (a row would mean a deal was attributed to them).
    assert not no_deals & {r["key"] for r in imported.kpis("rep")}


def test_sector_typo_is_fixed(imported: Cli) -> None:
    keys = {r["key"] for r in imported.kpis("sector")}
    assert "technology" in keys and "technolgy" not in keys


def test_unknown_grouping_is_refused(imported: Cli) -> None:
    result = imported("kpi", "--by", "planet", ok=False)
    assert result.exit_code != 0
    assert "planet" in result.output
