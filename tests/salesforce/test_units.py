"""Unit tests: the mock's SOQL evaluator, the connector's SOQL builder, the mapping file's
validation and the record → event rules (main line item, history, stage labels)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from attain.plugins.crm_salesforce import records as rec
from attain.plugins.crm_salesforce import soql
from attain.plugins.crm_salesforce.mapping import Mapping, MappingError, load_mapping

from .soql_eval import SoqlError, matches, parse, sort

ROWS = [
    {"Id": "a1", "Name": "Acme", "Amount": Decimal("10"), "IsWon": True, "CloseDate": "2017-03-01",
     "SystemModstamp": "2017-03-01T17:00:00.000+0000", "OwnerId": "u1"},
    {"Id": "a2", "Name": "O'Brien", "Amount": None, "IsWon": False, "CloseDate": "2017-04-01",
     "SystemModstamp": "2017-03-01T17:00:00.000+0000", "OwnerId": "u2"},
    {"Id": "a3", "Name": "beta", "Amount": Decimal("2.5"), "IsWon": False, "CloseDate": "2017-02-01",
     "SystemModstamp": "2017-02-01T09:30:00.000+0000", "OwnerId": "u1"},
]
USERS = {"u1": {"Id": "u1", "Name": "Ann"}, "u2": {"Id": "u2", "Name": "Bob"}}


def resolve(r: dict, path: tuple[str, ...]) -> object:
    if path[0] == "Owner":
        return USERS[r["OwnerId"]].get(path[1])
    return r.get(path[0])


def where(text: str) -> list[str]:
    q = parse(f"SELECT Id FROM Opportunity WHERE {text}")
    return [r["Id"] for r in ROWS if matches(q.where, r, resolve)]


def test_soql_evaluator() -> None:
    assert where("SystemModstamp >= 2017-03-01T17:00:00Z") == ["a1", "a2"]
    assert where("SystemModstamp > 2017-03-01T16:59:59.999+00:00") == ["a1", "a2"]
    assert where("CloseDate < 2017-03-15 AND Amount != null") == ["a1", "a3"]
    assert where("IsWon = true OR Amount > 2") == ["a1", "a3"]
    assert where("NOT (IsWon = true) AND (Name = 'BETA' OR Name = 'O\\'Brien')") == ["a2", "a3"]
    assert where("Id IN ('a3', 'a1')") == ["a1", "a3"]
    assert where("Id NOT IN ('a3')") == ["a1", "a2"]
    assert where("Amount = null") == ["a2"]
    assert where("Amount < 100") == ["a1", "a3"]  # null is neither below nor above
    assert where("Owner.Name LIKE 'a%'") == ["a1", "a3"]
    q = parse("select Id, Owner.Name from Opportunity order by SystemModstamp desc, Id asc limit 2")
    assert q.fields == (("Id",), ("Owner", "Name")) and q.limit == 2
    assert [r["Id"] for r in sort(ROWS, q.order_by, resolve)] == ["a1", "a2", "a3"]
    q = parse("SELECT Id FROM Opportunity ORDER BY Amount ASC NULLS LAST")
    assert [r["Id"] for r in sort(ROWS, q.order_by, resolve)] == ["a3", "a1", "a2"]
    for bad in ("SELECT FROM X", "SELECT Id FROM X WHERE", "SELECT Id FROM X WHERE A ~ 1",
                "SELECT Id FROM X LIMIT -1", "SELECT Id, (SELECT Id FROM Y) FROM X"):
        with pytest.raises(SoqlError):
            parse(bad)


def test_soql_builder_orders_by_timestamp_then_id() -> None:
    t = dt.datetime(2017, 3, 1, 16, 55, 0, 123000, tzinfo=dt.UTC)
    q = soql.incremental(["Name", "Owner.Name"], "Opportunity", t, ["IsDeleted = false"])
    assert q == ("SELECT Name, Owner.Name, Id, SystemModstamp FROM Opportunity WHERE "
                 "(SystemModstamp >= 2017-03-01T16:55:00.123Z) AND (IsDeleted = false) "
                 "ORDER BY SystemModstamp ASC, Id ASC")
    parsed = parse(q)  # and the mock understands it
    assert parsed.sobject == "Opportunity" and len(parsed.order_by) == 2
    assert soql.incremental(["Name"], "User", None) == (
        "SELECT Name, Id, SystemModstamp FROM User ORDER BY SystemModstamp ASC, Id ASC")
    assert soql.id_in("OpportunityId", ["a'1", "b\\2"]) == "OpportunityId IN ('a\\'1', 'b\\\\2')"
    with pytest.raises(ValueError):
        soql.name("Amount; DELETE")


def test_mapping_file(tmp_path: Path) -> None:
    assert load_mapping(None, "t") == Mapping()
    f = tmp_path / "m.yaml"
    f.write_text("amount_field: Net__c\nlead_statuses:\n  Nurture: mql\n"
                 "stages:\n  Closed Won: {label: Won}\n"
                 "tenants:\n  acme:\n    region_field: Territory__c\n    lead_statuses: {Open - Not Contacted: null}\n",
                 encoding="utf-8")
    m = load_mapping(str(f), "acme")
    assert (m.amount_field, m.region_field) == ("Net__c", "Territory__c")
    assert m.lead_statuses["Nurture"] == "mql" and m.lead_statuses["Open - Not Contacted"] is None
    assert m.lead_statuses["Working - Contacted"] == "sal"  # the defaults stay
    assert m.stage_label("Closed Won") == "Won" and m.stage_label("Other") == "Other"
    assert load_mapping(str(f), "globex").region_field == "Division"
    for text, message in (
            ("amount_field: [1", f"mapping file {f}:1: not valid YAML"),
            ("amont_field: X", f"mapping file {f}: amont_field: unknown key"),
            ("lead_statuses:\n  Hot: warm", f"mapping file {f}: lead_statuses.Hot: Input should be "
                                            "'mql', 'sal', 'sql' or 'disqualified'"),
            ("tenants:\n  acme:\n    amount_field: Owner.Amount",
             f"mapping file {f} (tenants.acme): amount_field: Value error, must be a field of the "
             "object itself"),
            ("stages:\n  X: {status: maybe}", f"mapping file {f}: stages.X.status: Input should be "
                                              "'open', 'won' or 'lost'"),
            ("- a list", f"mapping file {f}: must be a mapping of keys")):
        f.write_text(text, encoding="utf-8")
        with pytest.raises(MappingError) as exc:
            load_mapping(str(f), "acme")
        assert str(exc.value).startswith(message), str(exc.value)
    with pytest.raises(MappingError, match="no such file"):
        load_mapping(str(tmp_path / "missing.yaml"), "t")


def opp(**kw: object) -> dict:
    base = {"Id": "006A", "Owner": {"Name": "Ann"}, "OwnerId": "005A", "Account": {"Name": "Acme"},
            "StageName": "Closed Won", "IsClosed": True, "IsWon": True, "Amount": Decimal("100"),
            "CloseDate": "2017-03-10", "CreatedDate": "2017-03-01T09:00:00.000+0000",
            "SystemModstamp": "2017-03-10T17:00:00.000+0000", "IsDeleted": False, "Custom__c": 1.5}
    return base | kw


def test_deal_events_rules() -> None:
    stages = rec.StageInfo({"Prospecting": "open", "Closed Won": "won"})
    notes = rec.Notes()
    items = [{"Id": "00k2", "Product2": {"Name": "Cheap"}, "TotalPrice": Decimal("1")},
             {"Id": "00k3", "Product2": {"Name": "Main"}, "TotalPrice": Decimal("100")},
             {"Id": "00k1", "Product2": {"Name": "Main-first"}, "TotalPrice": Decimal("100")},
             {"Id": "00k0", "Product2": {"Name": "Gone"}, "TotalPrice": Decimal("900"), "IsDeleted": True}]
    history = [{"Id": "008a", "StageName": "Prospecting", "CreatedDate": "2017-03-01T09:00:00.000+0000"},
               {"Id": "008c", "StageName": "Legacy", "CreatedDate": "2017-03-05T09:00:00.000+0000"},
               {"Id": "008b", "StageName": "Prospecting", "CreatedDate": "2017-03-05T09:00:00.000+0000"},
               {"Id": "008d", "StageName": "Closed Won", "Amount": None,
                "CreatedDate": "2017-03-10T17:00:00.000+0000", "CloseDate": "2017-03-10"}]
    m = Mapping(stages={"Closed Won": {"label": "Won"}}, extra_fields={"Opportunity": ["Custom__c"]})
    evs = rec.deal_events(opp(), items, history, stages, m, "t", False, notes)
    ms = int(dt.datetime(2017, 3, 10, 17, tzinfo=dt.UTC).timestamp() * 1000)
    assert [(e["stage"], e["status"], e["version"] % 2) for e in evs] == [
        ("Prospecting", "open", 0), ("Legacy", "open", 0), ("Won", "won", 0), ("Won", "won", 1)]
    assert evs[-1]["event_id"] == f"sf:006A:{ms}" and evs[-1]["version"] == 2 * ms + 1
    assert evs[2]["version"] == 2 * ms  # the history row of the same instant is older
    assert evs[1]["event_id"].startswith("sf:008c:")  # same instant: the later Id is kept
    assert {e["product"] for e in evs} == {"Main-first"}  # highest TotalPrice, then lowest Id
    assert evs[2]["amount"] == Decimal("100")  # a won history row without amount: the deal's
    assert evs[-1]["attributes"] == {"Custom__c": "1.5"}
    assert notes.counts == {"history rows of a stage OpportunityStage does not list (taken as open; "
                            "map it under stages: in the mapping file)": 1}
    # the same records read again: the same events (ids included)
    assert rec.deal_events(opp(), items, history, stages, m, "t", False, rec.Notes()) == evs
    # an owner change gives history events new ids (stale, never a conflict)
    moved = rec.deal_events(opp(Owner={"Name": "Bob"}), items, history, stages, m, "t", False, rec.Notes())
    assert {e["event_id"] for e in moved[:-1]}.isdisjoint(e["event_id"] for e in evs[:-1])
    # open deals: the expected close date is no close; deleted: no history, status deleted
    open_ = rec.deal_events(opp(IsClosed=False, IsWon=False, StageName="Prospecting", Amount=None),
                            [], [], stages, Mapping(), "t", False, rec.Notes())[-1]
    assert (open_["status"], open_["closed_on"], open_["amount"], open_["product"]) == ("open", None, None, None)
    gone = rec.deal_events(opp(IsDeleted=True), items, history, stages, Mapping(), "t", False, rec.Notes())
    assert [e["status"] for e in gone] == ["deleted"]
    # closed before created: the cycle time is unknown, the deal still counts
    early = rec.deal_events(opp(CloseDate="2017-02-01"), [], [], stages, Mapping(), "t", False, notes)[-1]
    assert early["engaged_on"] is None and early["closed_on"] == dt.date(2017, 2, 1)


def test_time_parsing() -> None:
    t = rec.parse_time("2017-03-01T17:00:00.000+0000")
    assert t == dt.datetime(2017, 3, 1, 17, tzinfo=dt.UTC)
    assert rec.parse_time("2017-03-01T19:00:00.250+02:00") == t + dt.timedelta(milliseconds=250)
    assert rec.iso(t) == "2017-03-01T17:00:00.000Z"
    with pytest.raises(ValueError):
        rec.parse_time("yesterday")
