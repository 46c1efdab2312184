"""tests/reference.py, the plain-Python reading of README's KPI definitions that other tests
compare the engine with, on a case worked out by hand: the reference is not taken on trust."""

from __future__ import annotations

from decimal import Decimal

from reference import RefData, reference_kpis

REF = RefData(roster={"Ann": ("Mia", "East"), "Bob": ("Max", "West")},
              sectors={"Acme": "technology", "Beta": "retail"},
              catalogue={"GTX Pro": ("GTX", Decimal("4821.50")), "MG Special": ("MG", None)})


def test_the_reference_reads_the_kpi_definitions() -> None:
    events = [
        # Ann: won 1000.50 (cycle 32 days) after an open v1; won 333.33 (no engage date: no
        # cycle); lost; Bob: open without amount on GTX Pro (list price 4821.50), open 10 on an
        # unlisted product, open without amount on MG Special (no list price).
        {"type": "deal", "event_id": "a1", "deal_id": "A", "version": 1, "owner": "Ann",
         "status": "open", "amount": None, "product": "GTX Pro", "account": "Acme"},
        {"type": "deal", "event_id": "a2", "deal_id": "A", "version": 2, "owner": "Ann",
         "status": "won", "amount": "1000.50", "product": "GTX Pro", "account": "Acme",
         "engaged_on": "2017-01-02", "closed_on": "2017-02-03"},
        {"type": "deal", "event_id": "b1", "deal_id": "B", "version": 1, "owner": "Ann",
         "status": "won", "amount": Decimal("333.33"), "closed_on": "2017-04-01"},
        {"type": "deal", "event_id": "c1", "deal_id": "C", "version": 5, "owner": "Ann",
         "status": "lost", "amount": 0, "closed_on": "2017-04-02"},
        {"type": "deal", "event_id": "d1", "deal_id": "D", "version": 1, "owner": "Bob",
         "status": "open", "amount": None, "product": "GTX Pro"},
        {"type": "deal", "event_id": "e1", "deal_id": "E", "version": 1, "owner": "Bob",
         "status": "open", "amount": "10", "product": "Unlisted"},
        {"type": "deal", "event_id": "f1", "deal_id": "F", "version": 1, "owner": "Bob",
         "status": "open", "amount": None, "product": "MG Special"},
        {"type": "deal", "event_id": "a1", "deal_id": "A", "version": 1, "owner": "Ann",
         "status": "open", "amount": None},  # a redelivery: ignored
        # Facts: two leads of Bob answered after 1.5 h and 2 h 0 min 1 s (mean 1.750138… → 1.75),
        # one lead without owner, a call of Ann.
        {"type": "lead", "event_id": "l1", "kind": "mql", "owner": "Bob",
         "occurred_at": "2017-03-31T23:00:00-02:00", "first_response_at": "2017-04-01T02:30:00Z"},
        {"type": "lead", "event_id": "l2", "kind": "sql", "owner": "Bob",
         "occurred_at": "2017-05-01T10:00:00", "first_response_at": "2017-05-01T12:00:01+00:00"},
        {"type": "lead", "event_id": "l3", "kind": "created", "occurred_at": "2017-05-02T10:00:00Z"},
        {"type": "activity", "event_id": "c9", "kind": "call", "owner": "Ann", "account": "Acme",
         "occurred_at": "2017-06-30T23:59:59Z"},
    ]
    got = reference_kpis(events, REF)
    (total,) = got["all"]
    assert total["won_revenue"] == Decimal("1333.83")
    assert (total["won_deals"], total["lost_deals"], total["open_deals"]) == (2, 1, 3)
    assert total["win_rate"] == Decimal("0.6667")          # 2 / 3 = 0.66666…
    assert total["avg_deal_size"] == Decimal("666.92")      # 1333.83 / 2 = 666.915 → half-even
    assert total["avg_cycle_days"] == Decimal("32.00")      # only deal A has both dates
    assert total["pipeline_value"] == Decimal("4831.50")    # 4821.50 + 10 + nothing
    assert (total["mqls"], total["sqls"], total["leads_created"], total["calls"]) == (1, 1, 1, 1)
    assert total["activities"] == 1
    assert total["avg_first_response_hours"] == Decimal("1.75")  # (1.5 + 2.000277…) / 2
    by_rep = {r["key"]: r for r in got["rep"]}
    assert [r["key"] for r in got["rep"]] == ["Ann", "Bob", None]  # by won revenue, then key
    assert by_rep[None]["leads_created"] == 1 and by_rep[None]["won_revenue"] == 0
    assert by_rep["Bob"]["win_rate"] is None and by_rep["Bob"]["avg_first_response_hours"] == Decimal("1.75")
    quarters = {r["key"]: r for r in got["quarter"]}
    # The lead of 2017-03-31T23:00-02:00 is in 2017-Q2 (its UTC day, 2017-04-01: the one
    # event-day rule), the open deals have no quarter, the call of 06-30 23:59:59Z is in Q2.
    assert quarters["2017-Q1"]["mqls"] == 0 and quarters["2017-Q1"]["won_deals"] == 1
    assert quarters["2017-Q2"]["mqls"] == 1
    assert quarters[None]["open_deals"] == 3 and quarters["2017-Q2"]["calls"] == 1
    sectors = {r["key"]: r for r in got["sector"]}
    assert sectors["technology"]["won_revenue"] == Decimal("1000.50")
    assert sectors["technology"]["calls"] == 1 and sectors[None]["lost_deals"] == 1
