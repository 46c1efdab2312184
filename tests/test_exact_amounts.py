"""Amounts written as JSON numbers are exact decimals, whatever their number of digits.

pydantic reads a JSON number with a fraction or an exponent as a float (15–17 significant
digits); the model's money fields allow 20 (14 whole, 6 decimal). Such a number must neither be
rounded silently (``10000000000000.000001`` → ``10000000000000``) nor rejected because the
rounded float no longer fits (``99999999999999.999999`` → ``100000000000000.0``).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from attain.core.engine import Engine, Record
from attain.core.models import CustomerEvent, DealEvent, parse_event
from attain.core.store import Store

# Every amount below is valid (at most 14 whole digits and 6 decimals).
AMOUNTS = ["1054.5", "0.1", "12345678901234.123456", "10000000000000.000001",
           "99999999999999.999999", "9.99999999999999999E+13", "1E-6"]


def deal_line(i: int, amount: str) -> str:
    return (f'{{"type": "deal", "event_id": "n{i}", "deal_id": "N{i}", "version": 1, '
            f'"occurred_at": "2017-01-01T00:00:00Z", "owner": "Ann", "stage": "Won", '
            f'"status": "won", "amount": {amount}, "closed_on": "2017-02-01"}}')


@pytest.mark.parametrize("amount", AMOUNTS)
def test_parse_event_reads_a_json_number_amount_exactly(amount: str) -> None:
    ev = parse_event(deal_line(0, amount))
    assert isinstance(ev, DealEvent) and ev.amount == Decimal(amount)
    customer = parse_event(f'{{"type": "customer", "event_id": "c", "occurred_at": "2017-01-01", '
                           f'"account": "Acme", "kind": "renewed", "amount": {amount}}}')
    assert isinstance(customer, CustomerEvent) and customer.amount == Decimal(amount)


def test_an_amount_with_too_many_decimals_is_refused_as_written(sqlite_url: str) -> None:
    """1054.5000000000000001 is 1054.5 as a float, but has 16 decimals: invalid, as a string
    of the same digits would be."""
    store = Store(sqlite_url)
    try:
        good, bad = Engine(store).validate([Record(deal_line(0, "1054.5000000000000001")),
                                            Record(deal_line(1, '"1054.5000000000000001"'))])
    finally:
        store.dispose()
    assert good == [] and [reason for _, reason in bad] == [
        "amount: Decimal input should have no more than 6 decimal places"] * 2


def test_the_engine_stores_and_sums_json_number_amounts_exactly(engine: Engine) -> None:
    lines = [deal_line(i, a) for i, a in enumerate(AMOUNTS)]
    res = engine.process([Record(line, source="test") for line in lines])
    assert res.as_dict() == {"accepted": len(AMOUNTS), "duplicates": 0, "stale": 0, "conflicts": 0, "rejected": 0}
    assert {d.deal_id: d.amount for d in engine.deals("default")} == {
        f"N{i}": Decimal(a) for i, a in enumerate(AMOUNTS)}
    (row,) = engine.kpis("default", "all")
    # 1054.5 + 0.1 + 12345678901234.123456 + 10000000000000.000001 + 99999999999999.999999
    # + 99999999999999.9999 + 0.000001 = 222345678902288.723357, added up by hand.
    assert row["won_revenue"] == Decimal("222345678902288.723357")
