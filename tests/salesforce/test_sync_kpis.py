"""The central acceptance test: a sync of an org holding the bundled data set gives exactly the
KPIs of ``attain import crm-csv`` of that data set, for every grouping, on SQLite and
PostgreSQL; and re-syncing changes nothing."""

from __future__ import annotations

from typing import Any

from .sfkit import SfCli, sf_env, sync_json


def test_full_sync_gives_the_crm_csv_kpis(db_url: str, make_org: Any, cert: Any,
                                         bundled_records: dict, bundled_kpis: dict) -> None:
    org = make_org(bundled_records)
    cli = SfCli(db_url)
    env = sf_env(org, cert)
    first = sync_json(cli, env)
    assert first["mode"] == "full"
    assert first["stopped"] is None
    opp = first["objects"]["Opportunity"]
    assert opp["read"] == 8800
    # every opportunity's history rows and its own snapshot: 500 Prospecting deals have one
    # history row, 1589 Engaging two, 6711 closed three (sales_pipeline.csv's stage counts)
    assert opp["events"] == 500 * 2 + 1589 * 3 + 6711 * 4
    assert first["engine"]["rejected"] == 0 and first["engine"]["conflicts"] == 0
    assert cli.all_kpis() == bundled_kpis

    again = sync_json(cli, env, "--full")
    assert again["engine"]["accepted"] == 0
    assert again["engine"]["duplicates"] == opp["events"]
    assert cli.all_kpis() == bundled_kpis
