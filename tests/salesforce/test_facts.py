"""SYNTHETIC leads, tasks and events (the bundled data set has none) → lead and activity KPIs.

The expected counts are computed here from the org's records with the documented default
mapping, written out independently: lead Status → kind (standard picklist), IsConverted →
converted; a Task's Type, else its TaskSubtype → call/email/meeting/demo (others skipped); an
Event's Type, else meeting."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from attain.core.engine import Engine
from attain.core.plugins import get_plugins
from attain.core.store import Store

from .fixtures import add_synthetic
from .sfkit import SfCli, sf_env, sync_json

LEAD_KIND = {"Open - Not Contacted": "mqls", "Working - Contacted": "sals",
             "Closed - Converted": "sqls", "Closed - Not Converted": "leads_disqualified"}
ACTIVITY = {"Call": "calls", "Email": "emails", "Meeting": "meetings", "Demo": "demos"}
FACT_COLUMNS = ["leads_created", "mqls", "sals", "sqls", "leads_converted", "leads_disqualified",
                "calls", "emails", "meetings", "demos", "activities"]


def expected(records: dict[str, list[dict[str, Any]]]) -> dict[str, Counter[str]]:
    name = {u["Id"]: u["Name"] for u in records["User"]}
    out: dict[str, Counter[str]] = {}
    for lead in records["Lead"]:
        c = out.setdefault(name[lead["OwnerId"]], Counter())
        c["leads_created"] += 1
        if lead["Status"] in LEAD_KIND:
            c[LEAD_KIND[lead["Status"]]] += 1
        if lead["IsConverted"]:
            c["leads_converted"] += 1
    for t in records["Task"]:
        kind = ACTIVITY.get(t["Type"]) or ACTIVITY.get(t["TaskSubtype"])
        if kind:
            out.setdefault(name[t["OwnerId"]], Counter())[kind] += 1
    for e in records["Event"]:
        out.setdefault(name[e["OwnerId"]], Counter())[ACTIVITY.get(e["Type"] or "", "meetings")] += 1
    for c in out.values():
        c["activities"] = c["calls"] + c["emails"] + c["meetings"] + c["demos"]
    return out


def facts_by_rep(cli: SfCli) -> dict[str, dict[str, int]]:
    return {r["key"]: {c: r[c] for c in FACT_COLUMNS if r[c]} for r in cli.kpis("rep")
            if any(r[c] for c in FACT_COLUMNS)}


def test_leads_tasks_and_events(db_url: str, make_org: Any, cert: Path, small: Any) -> None:
    folder, records, want = small
    records = {k: [dict(r) for r in v] for k, v in records.items()}
    add_synthetic(records, [u["Name"] for u in records["User"] if u["ManagerId"]],
                  {u["Name"]: u["Id"] for u in records["User"]})
    org = make_org(records)
    cli = SfCli(db_url)
    env = sf_env(org, cert)
    out = sync_json(cli, env)
    assert out["engine"]["rejected"] == 0
    want_facts = {rep: {k: v for k, v in c.items() if v} for rep, c in expected(records).items()}
    assert facts_by_rep(cli) == want_facts
    # the deal KPIs are untouched by the facts
    deal_columns = ["won_revenue", "won_deals", "lost_deals", "open_deals", "pipeline_value"]
    assert {r["key"]: [r[c] for c in deal_columns] for r in cli.kpis("region")} == \
        {r["key"]: [r[c] for c in deal_columns] for r in want["region"]}
    assert "7 leads with a Status the mapping does not list (no status event; add it under " \
        "lead_statuses:)" in out["warnings"]

    # conversions point at the opportunity, sources come from LeadSource (the event log)
    store = Store(db_url)
    try:
        engine = Engine(store, get_plugins())
        leads = [f for f in engine.facts("default") if f.type == "lead"]
        converted = {f.lead_id: f.deal_id for f in leads if f.kind == "converted"}
        assert converted == {ld["Id"]: ld["ConvertedOpportunityId"] for ld in records["Lead"]
                             if ld["IsConverted"]}
        assert {f.lead_id: f.source for f in leads if f.kind == "created"} == {
            ld["Id"]: ld["LeadSource"] for ld in records["Lead"]}
        calls = {f.activity_id: f.duration_minutes for f in engine.facts("default")
                 if f.type == "activity" and f.kind == "call"}
        assert calls == {t["Id"]: (t["CallDurationInSeconds"] + 30) // 60 for t in records["Task"]
                         if t["Type"] == "Call"}
    finally:
        store.dispose()

    # a full re-sync sends no fact again
    again = sync_json(cli, env, "--full")
    assert again["objects"]["Lead"]["events"] == 0 and again["objects"]["Task"]["events"] == 0
    assert facts_by_rep(cli) == want_facts

    # a lead moves on: its new status is one more event; the old one stays counted
    lead = next(ld for ld in org.data["Lead"] if ld["Status"] == "Open - Not Contacted")
    org.put("Lead", {**lead, "Status": "Working - Contacted", "SystemModstamp": "2018-01-05T10:00:00.000+0000"})
    later = sync_json(cli, env)
    assert later["objects"]["Lead"]["events"] == 1
    owner = {u["Id"]: u["Name"] for u in records["User"]}[lead["OwnerId"]]
    want_facts[owner]["sals"] = want_facts[owner].get("sals", 0) + 1
    assert facts_by_rep(cli) == want_facts
