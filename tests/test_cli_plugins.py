"""`attain plugins list` as a table and as CSV (expectations from the installed entry points, not
from the plugin manager), and what `attain plugins disable NAME --tenant T` does to
`attain import` for that tenant and for the others."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from reference import DEAL_KPIS
from testkit import Cli, table_rows


def installed_plugins() -> list[tuple[str, str, str, list[str]]]:
    """(name, distribution, version, hooks) of the core and of every ``attain`` entry point, the
    hooks being the module's functions that carry pluggy's ``attain_impl`` marker."""
    out = [("core", "attain", metadata.version("attain"), ["attain_register_metrics"])]
    seen: set[str] = set()
    for ep in metadata.entry_points(group="attain"):
        if ep.name in seen:
            continue
        seen.add(ep.name)
        module = ep.load()
        hooks = sorted(n for n in dir(module) if n.startswith("attain_")
                       and hasattr(getattr(module, n), "attain_impl"))
        assert ep.dist is not None
        out.append((ep.name, ep.dist.metadata["Name"], ep.dist.version, hooks))
    return sorted(out)


def test_plugins_list_csv(cli: Cli) -> None:
    cli("plugins", "disable", "crm_csv", "--tenant", "t1")
    for tenant, off in (("t1", {"crm_csv"}), ("t2", set())):
        out = cli("plugins", "list", "--tenant", tenant, "--format", "csv").stdout
        rows = list(csv.reader(io.StringIO(out, newline="")))
        assert rows[0] == ["name", "distribution", "version", "enabled", "hooks"]
        assert rows[1:] == [[name, dist, version, str(name not in off), " ".join(hooks)]
                            for name, dist, version, hooks in installed_plugins()]


def test_plugins_list_table(cli: Cli, wide: int) -> None:
    cli("plugins", "disable", "crm_csv", "--tenant", "t1")
    out = cli("plugins", "list", "--tenant", "t1").stdout
    assert out.splitlines()[0].strip() == "Plugins (tenant t1)"
    header, rows = table_rows(out)
    assert header == ["name", "version", "enabled", "hooks", "provides"]
    assert [r[:4] for r in rows] == [[name, version, "no" if name == "crm_csv" else "yes", ", ".join(hooks)]
                                     for name, _, version, hooks in installed_plugins()]
    provides = {r[0]: "".join(r[4].split()) for r in rows}  # a long cell is folded over lines
    assert provides["crm_csv"] == "connectors:crm-csv"
    assert provides["core"].startswith("metrics:") and all(k in provides["core"] for k in DEAL_KPIS)
    listed = {p["name"]: p["provides"] for p in cli.json("plugins", "list", "--format", "json")}
    assert provides == {n: "".join("; ".join(f"{k}: {', '.join(v)}" for k, v in p.items()).split())
                        for n, p in listed.items()}


@pytest.fixture
def crm_dir(tmp_path: Path) -> Path:
    """A two-opportunity export in the CRM Sales Opportunities layout: O1 went Prospecting →
    Engaging → Won (3 events), O2 is still Prospecting (1 event)."""
    d = tmp_path / "crm"
    d.mkdir()
    (d / "products.csv").write_text("product,series,sales_price\nGTX Basic,GTX,550\n")
    (d / "sales_teams.csv").write_text("sales_agent,manager,regional_office\nAnn,Mia,East\n")
    (d / "accounts.csv").write_text("account,sector,subsidiary_of\nAcme,retail,\n")
    (d / "sales_pipeline.csv").write_text(
        "opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value\n"
        "O1,Ann,GTX Basic,Acme,Won,2017-01-02,2017-02-01,600\n"
        "O2,Ann,GTX Basic,,Prospecting,,,\n")
    return d


def attain(*args: str) -> subprocess.CompletedProcess[str]:
    """The real command (its entry point: errors as the user sees them)."""
    return subprocess.run([sys.executable, "-m", "attain.core.cli", *args], capture_output=True,
                          text=True, env=dict(os.environ), timeout=120)


def test_a_connector_disabled_for_a_tenant_refuses_its_import_there_only(cli: Cli, crm_dir: Path) -> None:
    assert cli("plugins", "disable", "crm_csv", "--tenant", "t1").stdout.strip() == (
        "crm_csv: disabled for tenant t1")
    proc = attain("--db", cli.db_url, "import", "crm-csv", str(crm_dir), "--tenant", "t1")
    assert proc.returncode == 2
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert " ".join(proc.stderr.split()) == (
        "error: connector 'crm-csv' belongs to plugin 'crm_csv', which is disabled for tenant 't1' "
        "(attain plugins enable crm_csv --tenant t1)")
    # Nothing of the export reached t1: no counters, no KPIs, no reference data.
    assert cli.json("stats", "--tenant", "t1", "--format", "json") == []
    assert cli.kpis("manager", tenant="t1") == []

    # Another tenant imports as usual: 4 events; Ann (East, manager Mia) won 600 of O1 and O2
    # is open at GTX Basic's list price.
    assert cli("import", "crm-csv", str(crm_dir), "--tenant", "t2", "--quiet").stdout.strip() == (
        "accepted 4, duplicates 0, stale 0, conflicts 0, rejected 0")
    (row,) = cli.kpis("region", tenant="t2")
    assert (row["key"], row["won_revenue"], row["open_deals"], row["pipeline_value"]) == ("East", 600, 1, 550)

    assert cli("plugins", "enable", "crm_csv", "--tenant", "t1").stdout.strip() == "crm_csv: enabled for tenant t1"
    assert cli("import", "crm-csv", str(crm_dir), "--tenant", "t1", "--quiet").stdout.strip() == (
        "accepted 4, duplicates 0, stale 0, conflicts 0, rejected 0")
    assert cli.kpis("region", tenant="t1") == cli.kpis("region", tenant="t2")
