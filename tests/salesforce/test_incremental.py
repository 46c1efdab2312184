"""Incremental, resumable syncs against the mock org: faults on the way (an expired session, 503,
429, a connection reset), pages that end inside a run of equal timestamps, late rows below the
high-water mark, deletes, the daily API limit and quota, --dry-run and --since. The KPIs after
each sync are those of ``attain import crm-csv`` of the data the org holds by then."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from attain.core.store import Store

from . import fixtures
from .sfkit import BUNDLED, SfCli, crm_csv_kpis, sf_env, sync, sync_json


def opportunity_ids(records: dict[str, list[dict[str, Any]]]) -> list[str]:
    return [o["Id"] for o in records["Opportunity"]]


def without(records: dict[str, list[dict[str, Any]]], opp_ids: set[str]) -> dict[str, list[dict[str, Any]]]:
    out = {k: [dict(r) for r in v] for k, v in records.items()}
    out["Opportunity"] = [o for o in out["Opportunity"] if o["Id"] not in opp_ids]
    for child in ("OpportunityHistory", "OpportunityLineItem"):
        out[child] = [r for r in out[child] if r["OpportunityId"] not in opp_ids]
    return out


def reference(small_folder: Path, tmp_path: Path, drop: set[int], name: str) -> dict[str, Any]:
    """crm-csv KPIs of the small data set without the pipeline rows at positions ``drop``."""
    folder = fixtures.subset(small_folder, tmp_path / name, keep=lambda i, r: i not in drop)
    return crm_csv_kpis(folder, tmp_path / f"{name}.db")


def sf_time(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def parse(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")


def test_faults_and_page_boundaries_inside_equal_timestamps(db_url: str, make_org: Any, cert: Path,
                                                            small: Any) -> None:
    folder, records, want = small
    records = {k: [dict(r) for r in v] for k, v in records.items()}
    ordered = sorted(records["Opportunity"], key=lambda o: (parse(o["SystemModstamp"]), o["Id"]))
    for edge in range(200, len(ordered), 200):  # a run of 20 equal timestamps across each edge
        for o in ordered[edge - 10:edge + 10]:   # (moved later, never earlier than a history row)
            o["SystemModstamp"] = ordered[edge + 9]["SystemModstamp"]
    assert all(ordered[i - 1]["SystemModstamp"] == ordered[i]["SystemModstamp"]
               for i in range(200, len(ordered), 200))
    org = make_org(records)
    org.inject("expired", when=lambda path, q: "/query/01g" in path)  # the second page of a query
    org.inject("unavailable", times=2, when=lambda path, q: "FROM OpportunityHistory" in q)
    org.inject("too_many", when=lambda path, q: "FROM Account" in q)
    org.inject("reset", when=lambda path, q: "FROM Lead" in q)
    cli = SfCli(db_url)
    out = sync_json(cli, sf_env(org, cert, ATTAIN_SALESFORCE_BATCH_SIZE="200"))
    assert out["stopped"] is None and out["engine"]["rejected"] == 0
    assert out["objects"]["Opportunity"]["pages"] == -(-len(ordered) // 200)
    assert out["api"]["reauthentications"] == 1 and org.logins == 2
    assert out["api"]["retries"] == 4  # two 503s, one 429, one reset
    assert [c.status for c in org.calls if c.soql and "FROM OpportunityHistory" in c.soql][:3] == [503, 503, 200]
    assert all(f.times == 0 for f in org.faults)
    assert cli.all_kpis() == want


def test_late_rows_deletes_and_full_resync(db_url: str, make_org: Any, cert: Path, small: Any,
                                           tmp_path: Path) -> None:
    folder, records, _ = small
    ids = opportunity_ids(records)
    near, far, deleted = {3, 10, 40}, {7, 90}, 25  # positions in the small data set
    org = make_org(without(records, {ids[i] for i in near | far}))
    cli = SfCli(db_url)
    env = sf_env(org, cert, ATTAIN_SALESFORCE_LOOKBACK_SECONDS="300")
    first = sync_json(cli, env)
    assert first["mode"] == "full"
    assert cli.all_kpis() == reference(folder, tmp_path, near | far, "first")

    mark = max(parse(o["SystemModstamp"]) for o in org.data["Opportunity"])
    full = {o["Id"]: o for o in records["Opportunity"]}
    children = {k: [r for r in records[k] if r["OpportunityId"] in {ids[i] for i in near | far}]
                for k in ("OpportunityHistory", "OpportunityLineItem")}
    for k, rows in children.items():
        for r in rows:
            org.put(k, dict(r))
    for i in near:  # committed in Salesforce a minute before the mark: inside the lookback
        org.put("Opportunity", {**full[ids[i]], "SystemModstamp": sf_time(mark - dt.timedelta(seconds=60))})
    for i in far:  # a day below it: outside the lookback window
        org.put("Opportunity", {**full[ids[i]], "SystemModstamp": sf_time(mark - dt.timedelta(days=1))})
    gone = org.by_id("Opportunity")[ids[deleted]]
    org.put("Opportunity", {**gone, "IsDeleted": True,
                            "SystemModstamp": sf_time(mark + dt.timedelta(hours=1))})

    second = sync_json(cli, env)
    assert second["mode"] == "incremental"
    assert second["objects"]["Opportunity"]["since"] == (mark - dt.timedelta(seconds=300)).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")
    assert cli.all_kpis() == reference(folder, tmp_path, far | {deleted}, "second")

    third = sync_json(cli, env, "--full")  # re-reads everything: the far rows arrive too
    assert third["engine"]["conflicts"] == 0 and third["engine"]["rejected"] == 0
    assert cli.all_kpis() == reference(folder, tmp_path, {deleted}, "third")

    quiet = sync_json(cli, env)  # nothing changed: the lookback window's records are duplicates
    assert quiet["engine"]["accepted"] == 0 and quiet["engine"]["duplicates"] > 0
    assert cli.all_kpis() == reference(folder, tmp_path, {deleted}, "third")

    org.put("Opportunity", {**gone, "IsDeleted": False,  # restored from the recycle bin
                            "SystemModstamp": sf_time(mark + dt.timedelta(hours=2))})
    sync_json(cli, env)
    assert cli.all_kpis() == reference(folder, tmp_path, set(), "restored")


def test_a_failing_sync_keeps_what_it_committed_and_resumes(db_url: str, make_org: Any, cert: Path,
                                                            small: Any) -> None:
    folder, records, want = small
    org = make_org(records)
    env = sf_env(org, cert, ATTAIN_SALESFORCE_BATCH_SIZE="200", ATTAIN_SALESFORCE_MAX_RETRIES="2")
    pages: list[str] = []  # the second next-page call of the opportunities, three times in a row
    org.inject("unavailable", times=3, when=lambda path, q: "/query/01g" in path and
               "FROM Opportunity " in q and (pages.append(path) or len(pages) >= 2))
    cli = SfCli(db_url)
    res = sync(cli, env, ok=False)
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert [ln.split(" in ")[0] for ln in lines[:2]] == [
        f"warning: salesforce query Opportunity (next page): HTTP 503; retry {n} of 2" for n in (1, 2)]
    assert len(lines) == 3 and lines[2].startswith("error: Salesforce query Opportunity (next page): "
                                                   "HTTP 503 SERVER_UNAVAILABLE")
    assert "run it again to resume" in lines[2]
    store = Store(db_url)
    try:
        from attain.plugins.crm_salesforce import state

        marks = state.marks(store.engine, "default")
    finally:
        store.dispose()
    assert set(marks) == {"User", "Account", "Opportunity"}  # two opportunity pages committed
    again = sync_json(cli, env)
    assert again["mode"] == "incremental" and again["stopped"] is None
    assert again["engine"]["duplicates"] > 0  # the second page's timestamp run is read again
    assert cli.all_kpis() == want


def test_request_limit_exceeded_stops_cleanly_and_the_next_run_resumes(db_url: str, make_org: Any,
                                                                        cert: Path, small: Any) -> None:
    folder, records, want = small
    org = make_org(records)
    org.inject("rate_limit", when=lambda path, q: "FROM Lead" in q)
    cli = SfCli(db_url)
    env = sf_env(org, cert)
    res = sync(cli, env, "--format", "json", ok=False)
    assert res.exit_code == 1
    assert res.stderr.strip().splitlines() == [
        "error: Salesforce refused query Lead: REQUEST_LIMIT_EXCEEDED (TotalRequests Limit exceeded.); "
        "the sync stopped with its high-water marks kept: run it again later to resume"]
    import json
    summary = json.loads(res.stdout)
    assert summary["stopped"].startswith("Salesforce refused query Lead")
    assert cli.all_kpis() == want  # every opportunity was committed before the stop
    again = sync_json(cli, env)
    assert again["mode"] == "incremental" and again["objects"]["Opportunity"]["since"]
    assert again["engine"]["accepted"] == 0
    assert cli.all_kpis() == want


def test_stops_before_the_configured_share_of_the_daily_quota(db_url: str, make_org: Any, cert: Path,
                                                              small: Any) -> None:
    folder, records, want = small
    org = make_org(records, api_total=60, api_used=20)
    cli = SfCli(db_url)
    env = sf_env(org, cert, ATTAIN_SALESFORCE_MAX_API_SHARE="0.5", ATTAIN_SALESFORCE_BATCH_SIZE="200")
    res = sync(cli, env, ok=False)
    assert res.exit_code == 1
    assert "of the org's 60 daily API requests are used" in res.stderr
    assert org.api_used <= 30  # never past half of the quota
    org.api_total = 100000
    sync(cli, env)
    assert cli.all_kpis() == want


def test_dry_run_writes_nothing_and_since_reads_from_there(db_url: str, make_org: Any, cert: Path,
                                                            small: Any) -> None:
    folder, records, want = small
    org = make_org(records)
    cli = SfCli(db_url)
    env = sf_env(org, cert)
    dry = sync_json(cli, env, "--dry-run")
    assert dry["dry_run"] and dry["engine"]["rejected"] == 0
    assert dry["engine"]["accepted"] == dry["objects"]["Opportunity"]["events"] > 0
    assert cli.all_kpis() == {g: [] for g in want}
    assert sync_json(cli, env)["mode"] == "full"  # the dry run left no marks
    since = dt.datetime(2017, 12, 1, tzinfo=dt.UTC)
    out = sync_json(cli, env, "--since", "2017-12-01")
    assert out["objects"]["Opportunity"]["since"] == "2017-12-01T00:00:00.000Z"
    assert out["objects"]["Opportunity"]["read"] == sum(
        1 for o in records["Opportunity"] if parse(o["SystemModstamp"]) >= since)
    assert out["engine"]["accepted"] == 0
    assert cli.all_kpis() == want


def test_password_flow_and_bundled_sizes(sqlite_url: str, make_org: Any, cert: Path, small: Any) -> None:
    folder, records, want = small
    org = make_org(records)
    env = sf_env(org, cert, ATTAIN_SALESFORCE_USERNAME=org.username,
                 ATTAIN_SALESFORCE_PASSWORD=org.password,
                 ATTAIN_SALESFORCE_SECURITY_TOKEN=org.security_token)
    cli = SfCli(sqlite_url)
    sync(cli, env)
    assert cli.all_kpis() == want
    assert BUNDLED.is_dir()
