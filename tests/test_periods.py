"""One period model and one event-day rule: an event counts on its UTC day, for KPIs, goals and
commissions alike."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from attain.core import Engine, Period, PeriodError, Record, parse_event, parse_period, utc_day
from attain.plugins.goals.model import event_day
from attain.plugins.incentives.facts import FactBook
from attain.testing import activity, deal

# 23:30 at UTC-5 on 31 March is 04:30 UTC on 1 April: Q2, not Q1
LATE = "2017-03-31T23:30:00-05:00"


def test_the_utc_day_of_the_late_event() -> None:
    t = dt.datetime.fromisoformat(LATE)
    assert t.date() == dt.date(2017, 3, 31)  # its local date
    assert utc_day(t) == dt.date(2017, 4, 1)
    assert utc_day(dt.datetime(2017, 3, 31, 23, 30)) == dt.date(2017, 3, 31)  # naive = UTC


def test_the_late_event_is_in_q2_for_kpis(engine: Engine) -> None:
    res = engine.process([Record(activity("A1", "call", occurred_at=LATE))])
    assert res.accepted == 1
    rows = {r["key"]: r["calls"] for r in engine.kpis("default", "quarter")}
    assert rows == {"2017-Q2": 1}


def test_the_late_event_is_in_q2_for_commissions_and_goals() -> None:
    won = deal("D1", status="won", amount="1000", occurred_at=LATE, closed_on=None)
    del won["closed_on"]  # no close date: the deal closes on the day it was won
    book = FactBook()
    book.apply(parse_event(json.dumps(won)))
    fact = book.fact("D1")
    assert fact is not None and fact.closed_on == dt.date(2017, 4, 1)
    assert Period.of(fact.closed_on, "quarter").key == "2017-Q2"
    call = parse_event(json.dumps(activity("A1", "call", occurred_at=LATE)))
    assert event_day(lambda d: d.closed_on, call) == dt.date(2017, 4, 1)


def test_one_period_model_for_goals_and_commissions() -> None:
    from attain.plugins.goals.periods import Period as GoalPeriod
    from attain.plugins.incentives.periods import Period as CommissionPeriod

    assert GoalPeriod is CommissionPeriod is Period
    q = parse_period("2017-Q1")
    assert q == Period.parse("2017-Q1") and (q.start, q.end) == (dt.date(2017, 1, 1), dt.date(2017, 3, 31))
    assert [p.key for p in q.months()] == ["2017-01", "2017-02", "2017-03"]
    assert q.next().key == "2017-Q2" and q.prev().key == "2016-Q4"
    assert parse_period("2017-H2").next().key == "2018-H1"
    assert [p.key for p in parse_period("2017-02-10..2017-04-05").split("month")] == [
        "2017-02-10..2017-02-28", "2017-03", "2017-04-01..2017-04-05"]
    assert Period.of(dt.date(2017, 12, 31), "year").key == "2017"
    with pytest.raises(PeriodError):
        Period.parse("2017-H1")  # commissions use months, quarters and years
    assert Decimal(q.days) == Decimal(31 + 28 + 31)
