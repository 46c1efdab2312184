"""Quota planning ramps from real start dates (rep lifecycle events): capacities and quotas
worked out by hand in the comments; reps without rep events keep the 1 January rule."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any

from attain.core import Engine, Record, Rep, parse_period
from attain.core.models import RepEvent
from attain.plugins.goals.planning import plan_quotas
from attain.plugins.goals.ramp import Ramp, lifecycles, ramp_of, ramps
from attain.testing import assert_order_independent, make_plugins

D = Decimal
Y2018 = parse_period("2018")


def rep(name: str, kind: str, day: str) -> dict[str, Any]:
    return {"type": "rep", "event_id": f"{name}-{kind}-{day}", "rep": name, "kind": kind,
            "occurred_at": f"{day}T09:00:00Z"}


def won(deal_id: str, owner: str, amount: str) -> dict[str, Any]:
    return {"type": "deal", "event_id": deal_id, "deal_id": deal_id, "version": 1, "owner": owner,
            "stage": "Won", "status": "won", "amount": amount, "engaged_on": "2017-03-01",
            "closed_on": "2017-06-01", "occurred_at": "2017-06-01T00:00:00Z"}


EVENTS = [
    won("D1", "Ann", "100000"), won("D2", "Bob", "20000"), won("D3", "Dee", "50000"),
    rep("Ann", "hired", "2015-01-01"),
    rep("Bob", "hired", "2017-11-15"),                       # ramp month 3 of 3 in January
    rep("Cy", "hired", "2018-03-10"),                        # starts in March
    rep("Dee", "hired", "2016-01-01"), rep("Dee", "left", "2017-12-15"),   # gone
]
# Eve: on the roster, no deals, no rep events: the 1 January rule

# R = 3: month k of the ramp at k/4. Days: Jan 31, Feb 28, Mar 31, Apr 30, May 31, 2018 = 365.
BOB = Fraction(31 * 3, 4) + (365 - 31)                     # Jan 3/4, then 1: 357.25 / 365
CY = Fraction(31 * 1 + 30 * 2 + 31 * 3, 4) + (365 - 31 - 28 - 31 - 30 - 31)   # 260 / 365
EVE = Fraction(31 * 1 + 28 * 2 + 31 * 3, 4) + (365 - 31 - 28 - 31)           # 320 / 365


def as_dec(f: Fraction) -> Decimal:
    return D(f.numerator) / D(f.denominator)


def test_ramp_of_hand_cases() -> None:
    life = lifecycles(RepEvent.model_validate(e) for e in EVENTS if e["type"] == "rep")
    got = {r: ramp_of(life[r], Y2018, 3) for r in life}
    assert (got["Ann"].start, got["Ann"].capacity, got["Ann"].status) == (dt.date(2015, 1, 1), 1, "ramped")
    assert (got["Bob"].capacity * 365, got["Bob"].status) == (BOB, "ramping: month 3 of 3")
    assert (got["Cy"].capacity * 365, got["Cy"].status) == (CY, "not started")
    assert (got["Dee"].start, got["Dee"].capacity, got["Dee"].status) == (None, 0, "left")
    # rehired in the plan year: ramps again from the rehire (June: months 1-3 at 1/4..3/4,
    # then July… at 1: (30·1 + 31·2 + 31·3)/4 + 122 days)
    again = ramp_of(life["Dee"] + [(dt.date(2018, 6, 20), "hired")], Y2018, 3)
    assert again is not None and again.start == dt.date(2018, 6, 20)
    assert again.capacity * 365 == Fraction(30 + 31 * 2 + 31 * 3, 4) + 30 + 31 + 30 + 31
    # no ramp: full capacity from the hire month (Cy: March … December = 306 days)
    assert ramp_of(life["Cy"], Y2018, 0).capacity * 365 == 365 - 31 - 28  # type: ignore[union-attr]
    # hired and left on one day (in either order): hired counts first, so Fay has left
    fay = lifecycles(RepEvent.model_validate(e) for e in (rep("Fay", "left", "2017-05-01"),
                                                          rep("Fay", "hired", "2017-05-01")))
    assert fay["Fay"] == [(dt.date(2017, 5, 1), "hired"), (dt.date(2017, 5, 1), "left")]
    assert ramp_of(fay["Fay"], Y2018, 3) == Ramp(None, Fraction(0), "left")


def test_ramps_are_order_independent() -> None:
    pm = make_plugins({})
    got = assert_order_independent(
        EVENTS, lambda e: ramps(e.events("default", types=["rep"]), Y2018, 3), plugins=pm,
        seeds=(1, 2), batch_sizes=(1, 3))
    assert set(got) == {"Ann", "Bob", "Cy", "Dee"}


def test_plan_quotas_ramps_from_start_dates(engine: Engine) -> None:
    engine.process([Record(e, source="t") for e in EVENTS])
    engine.save_dimensions("default", reps=[Rep(name=n) for n in ("Ann", "Bob", "Cy", "Dee", "Eve")])
    plan = plan_quotas(engine, "default", 2018, D(0), 3)
    rows = {r["rep"]: r for r in plan["reps"]}
    # productivity: own 2017 revenue; Cy and Eve (no deals): median of 100000, 20000, 50000
    median = D(50000)
    want = {"Ann": (D(100000), Fraction(1), dt.date(2015, 1, 1), "ramped"),
            "Bob": (D(20000), BOB / 365, dt.date(2017, 11, 15), "ramping: month 3 of 3"),
            "Cy": (median, CY / 365, dt.date(2018, 3, 10), "not started"),
            "Dee": (D(50000), Fraction(0), None, "left"),
            "Eve": (median, EVE / 365, None, "ramping: month 1 of 3")}
    for name, (prod, cap, start, status) in want.items():
        r = rows[name]
        assert (r["start"], r["ramp_status"]) == (start, status), name
        assert r["capacity"] == as_dec(cap).quantize(D("0.0001"), ROUND_HALF_EVEN), name
        assert abs(r["quota"] - prod * as_dec(cap)) <= D("0.01"), (name, r["quota"])
    assert rows["Dee"]["quota"] == 0
    total = sum((prod * as_dec(cap) for prod, cap, _, _ in want.values()), D(0))
    assert plan["quota_total"] == total.quantize(D("0.01"), ROUND_HALF_EVEN)
    assert any("start dates from rep events for 4 rep(s)" in n and "Dee" in n for n in plan["notes"])
