"""A tenant's mapping file through a real sync: a custom amount field, a custom region field, a
stage label and custom fields carried as event attributes; a mapped field the org lacks is one
clear error."""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from attain.core.store import Store
from sqlalchemy import text

from .sfkit import SfCli, sf_env, sync, sync_json


def test_custom_fields_through_a_sync(sqlite_url: str, make_org: Any, cert: Path, small: Any,
                                      tmp_path: Path) -> None:
    records = {k: [dict(r) for r in v] for k, v in small[1].items()}
    for o in records["Opportunity"]:
        o["Net__c"] = None if o["Amount"] is None else (o["Amount"] * Decimal("0.9")).quantize(Decimal("0.01"))
        o["Forecast__c"] = "Commit" if o["IsWon"] else None
    for u in records["User"]:
        u["Territory__c"] = f"T-{u['Division']}"
    org = make_org(records)
    org.schema["Opportunity"] |= {"Net__c": "currency", "Forecast__c": "string"}
    org.schema["User"]["Territory__c"] = "string"
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("tenants:\n  acme:\n    amount_field: Net__c\n    region_field: Territory__c\n"
                       "    stages: {Closed Won: {label: Won}}\n"
                       "    extra_fields: {Opportunity: [Forecast__c, LeadSource]}\n", encoding="utf-8")
    cli = SfCli(sqlite_url)
    out = sync_json(cli, sf_env(org, cert), "--tenant", "acme", "--mapping", str(mapping))
    assert out["engine"]["rejected"] == 0
    users = {u["Id"]: u for u in records["User"]}
    want: dict[str, Decimal] = defaultdict(Decimal)
    for o in records["Opportunity"]:
        if o["IsWon"]:
            want[users[o["OwnerId"]]["Territory__c"]] += o["Net__c"]
    got = {r["key"]: r["won_revenue"] for r in cli.kpis("region", tenant="acme")}
    assert got == {k: v.normalize() if v != v.to_integral() else v.quantize(Decimal(1))
                   for k, v in want.items()}
    store = Store(sqlite_url)
    try:
        with store.engine.connect() as conn:
            payloads = [json.loads(p) for (p,) in conn.execute(text(
                "SELECT payload FROM events WHERE tenant = 'acme' AND type = 'deal'"))]
    finally:
        store.dispose()
    latest = [p for p in payloads if p["version"] % 2 == 1]
    won = next(p for p in latest if p["status"] == "won")
    opp = next(o for o in records["Opportunity"] if o["Id"] == won["deal_id"])
    assert won["stage"] == "Won"
    assert won["attributes"] == {"Forecast__c": "Commit", "LeadSource": opp["LeadSource"]}


def test_a_mapped_field_the_org_lacks_is_one_error(sqlite_url: str, make_org: Any, cert: Path,
                                                   small: Any, tmp_path: Path) -> None:
    org = make_org(small[1])
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("amount_field: ARR__c\n", encoding="utf-8")
    res = sync(SfCli(sqlite_url), sf_env(org, cert), "--mapping", str(mapping), ok=False)
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines() == [
        "error: mapping: amount_field: Opportunity has no field 'ARR__c' (as described by the org); "
        "the sync stopped (what was committed is kept: run it again to resume)"]
