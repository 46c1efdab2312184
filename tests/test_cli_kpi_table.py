"""`attain kpi` without --format: the table people read, every column and figure of every row
(figures worked out by hand from the events below)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from attain.core.engine import Engine
from attain.core.models import Product
from attain.core.plugins import get_plugins
from attain.core.store import Store
from reference import DEAL_KPIS, FACT_KPIS
from testkit import Cli, table_rows


def deal(eid: str, did: str, version: int, owner: str, status: str, amount: str | None,
         **extra: Any) -> dict[str, Any]:
    return {"type": "deal", "event_id": eid, "deal_id": did, "version": version,
            "occurred_at": "2017-03-01T10:00:00Z", "owner": owner, "product": "GTX Pro",
            "account": "Acme", "stage": status.title(), "status": status, "amount": amount, **extra}


EVENTS = [
    deal("a1", "A", 1, "Ann", "open", "1000"),
    deal("a2", "A", 2, "Ann", "won", "1200.50", engaged_on="2017-01-05", closed_on="2017-02-10"),
    deal("b1", "B", 1, "Bob", "lost", "0", engaged_on="2017-01-01", closed_on="2017-04-02"),
    deal("c1", "C", 1, "Bob", "open", None),  # no amount: GTX Pro's list price, 4821.50
    deal("d1", "D", 1, "Cy", "won", "5000", engaged_on="2017-02-27", closed_on="2017-03-01"),
    {"type": "activity", "event_id": "act1", "activity_id": "act1", "kind": "call", "owner": "Ann",
     "occurred_at": "2017-03-02T09:00:00Z"},
    {"type": "lead", "event_id": "lead1", "lead_id": "L1", "kind": "mql",
     "occurred_at": "2017-03-02T09:00:00Z", "first_response_at": "2017-03-02T10:30:00Z"},
]
BIG = "big_deal_count" in get_plugins().metrics  # the example plugin (installed by scripts/test)
COLUMNS = ["rep", *DEAL_KPIS, *FACT_KPIS, *(["big_deal_count"] if BIG else [])]
ZEROS = {k: "0" for k in FACT_KPIS} | {"avg_first_response_hours": "–"}
# Cy: 5,000 won in 2 days (Feb 27 → Mar 1, 2017). Ann: v2 won 1,200.50 in 36 days (Jan 5 →
# Feb 10) and a call. Bob: a lost deal (win rate 0) and an open one priced at the list price.
# The lead has no owner: rep "–", answered after 1.5 hours. Sorted by won revenue, then name.
EXPECTED = [
    {"rep": "Cy", "won_revenue": "5,000.00", "won_deals": "1", "lost_deals": "0", "open_deals": "0",
     "win_rate": "1", "avg_deal_size": "5,000.00", "avg_cycle_days": "2", "pipeline_value": "0.00",
     **ZEROS, "big_deal_count": "1"},
    {"rep": "Ann", "won_revenue": "1,200.50", "won_deals": "1", "lost_deals": "0", "open_deals": "0",
     "win_rate": "1", "avg_deal_size": "1,200.50", "avg_cycle_days": "36", "pipeline_value": "0.00",
     **ZEROS, "calls": "1", "activities": "1", "big_deal_count": "0"},
    {"rep": "Bob", "won_revenue": "0.00", "won_deals": "0", "lost_deals": "1", "open_deals": "1",
     "win_rate": "0", "avg_deal_size": "–", "avg_cycle_days": "–", "pipeline_value": "4,821.50",
     **ZEROS, "big_deal_count": "0"},
    {"rep": "–", "won_revenue": "0.00", "won_deals": "0", "lost_deals": "0", "open_deals": "0",
     "win_rate": "–", "avg_deal_size": "–", "avg_cycle_days": "–", "pipeline_value": "0.00",
     **ZEROS, "mqls": "1", "avg_first_response_hours": "1.5", "big_deal_count": "0"},
]


def ingest_events(cli: Cli, tmp_path: Path) -> None:
    """EVENTS, with the catalogue that prices the open deal."""
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    store = Store(cli.db_url)
    try:
        Engine(store).save_dimensions("default", products=[
            Product(name="GTX Pro", series="GTX", list_price=Decimal("4821.50"))])
    finally:
        store.dispose()
    assert cli("ingest", str(path), "--quiet").stdout.strip() == (
        "accepted 7, duplicates 0, stale 0, conflicts 0, rejected 0")


def test_kpi_table_shows_every_figure(cli: Cli, tmp_path: Path, wide: int) -> None:
    ingest_events(cli, tmp_path)
    out = cli("kpi").stdout  # --by rep is the default
    assert out.splitlines()[0].strip() == "KPIs by rep (tenant default)"
    header, rows = table_rows(out)
    # The deal KPIs first, in the README's order; then the fact and plugin KPIs.
    assert header[:9] == COLUMNS[:9] and sorted(header) == sorted(COLUMNS)
    assert [dict(zip(header, r, strict=True)) for r in rows] == [
        {c: row[c] for c in COLUMNS} for row in EXPECTED]

    header, rows = table_rows(cli("kpi", "--by", "all", "--tenant", "default").stdout)
    assert header[0] == "all"
    (total,) = [dict(zip(header, r, strict=True)) for r in rows]
    # 5,000 + 1,200.50 won of 3 closed deals: win rate 2/3, average (5,000 + 1,200.50) / 2 =
    # 3,100.25, cycle (2 + 36) / 2 = 19 days.
    assert {k: total[k] for k in DEAL_KPIS} == {
        "won_revenue": "6,200.50", "won_deals": "2", "lost_deals": "1", "open_deals": "1",
        "win_rate": "0.6667", "avg_deal_size": "3,100.25", "avg_cycle_days": "19",
        "pipeline_value": "4,821.50"}


def test_kpi_table_prints_names_as_they_are(cli: Cli, tmp_path: Path, wide: int) -> None:
    """A name that looks like rich markup is shown as it is (it used to be taken for styling, and
    a closing tag without an opening one crashed the command)."""
    path = tmp_path / "events.jsonl"
    names = ["[bold]Ann[/bold]", "[/x] Bob"]
    path.write_text("".join(json.dumps(deal(f"e{i}", f"D{i}", 1, n, "won", str(10 - i),
                                            closed_on="2017-03-01")) + "\n" for i, n in enumerate(names)))
    cli("ingest", str(path), "--quiet", "--tenant", "[red]t[/red]")
    out = cli("kpi", "--tenant", "[red]t[/red]").stdout
    assert out.splitlines()[0].strip() == "KPIs by rep (tenant [red]t[/red])"
    _, rows = table_rows(out)
    assert [r[:2] for r in rows] == [["[bold]Ann[/bold]", "10.00"], ["[/x] Bob", "9.00"]]


def test_follow_limits_need_follow(cli: Cli) -> None:
    for args in (("--max-updates", "3"), ("--timeout", "5")):
        result = cli("kpi", *args, ok=False)
        assert result.exit_code == 2 and "only with --follow" in " ".join(result.output.split())


def test_a_narrow_terminal_gets_the_table_in_parts_that_fit(cli: Cli, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """At 80 columns the 20-odd KPI columns do not fit one table: they come in parts, each with
    the rep column and as many KPI columns as fit, every figure whole, no line over 80."""
    from attain.core import cli as cli_module
    from rich.console import Console

    monkeypatch.setattr(cli_module, "console", Console(width=80, color_system=None))
    ingest_events(cli, tmp_path)
    out = cli("kpi").stdout
    assert max(len(line) for line in out.splitlines()) <= 80
    # each part: its title (centred over the part, so it may wrap), then the table
    parts: list[tuple[str, list[str]]] = []
    for line in out.splitlines():
        if line.strip() and line.strip()[0] not in "┏┃┡│└":
            if not parts or parts[-1][1]:
                parts.append(("", []))
            parts[-1] = (f"{parts[-1][0]} {line.strip()}".strip(), parts[-1][1])
        else:
            parts[-1][1].append(line)
    assert len(parts) >= 3
    merged: dict[str, dict[str, str]] = {}
    seen: list[str] = []
    for title, lines in parts:
        header, rows = table_rows("\n".join(lines))
        assert header[0] == "rep"
        first = len(seen) + 1
        seen += header[1:]
        want = f"column {first}" if len(header) == 2 else f"columns {first}–{len(seen)}"
        assert title == f"KPIs by rep (tenant default): {want} of {len(COLUMNS) - 1}"
        for r in rows:
            merged.setdefault(r[0], {"rep": r[0]}).update(dict(zip(header, r, strict=True)))
    assert seen[:8] == COLUMNS[1:9] and sorted(seen) == sorted(COLUMNS[1:])
    assert list(merged.values()) == [{c: row[c] for c in COLUMNS} for row in EXPECTED]
