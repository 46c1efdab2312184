"""The sample plans that need more than the bundled CSV: clawbacks (later lost / reopened deals
and a churned account, built by hand here) and monthly draws (recoverable or not), every
statement against the independent reference (tests/incentives/reference.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from attain.core.engine import Record
from attain.plugins.incentives.service import Incentives

from . import reference as ref
from .incentives_helpers import CsvDeal, churn_event, deal_event
from .sample_plans import compare, expected_quarterly, rules_fired, run_plan

D = Decimal
QUARTERS = ref.quarters(2017)
MONTHS = ref.months(2017)
DAY = dt.timedelta(days=1)


def pick(deals: list[ref.Deal], rep: str, start: str, end: str, last: bool = False) -> ref.Deal:
    """The rep's first (or last) won deal closed in [start, end], in closing order."""
    got = sorted((d for d in deals if d.owner == rep
                  and dt.date.fromisoformat(start) <= d.closed <= dt.date.fromisoformat(end)),
                 key=lambda d: (d.closed, d.id))
    return got[-1 if last else 0]


def lost(d: ref.Deal, day: dt.date) -> dict[str, Any]:
    """A later snapshot of a bundled deal (the CSV's won snapshot is version 3): lost."""
    return deal_event(d.id, 4, d.owner, "lost", "0", day.isoformat(), product=d.product,
                      account=d.account)


def reopened(d: ref.Deal, day: dt.date) -> dict[str, Any]:
    return deal_event(d.id, 4, d.owner, "open", account=d.account, occurred=day.isoformat())


def test_clawbacks_plan(bundled_svc: Incentives, csv_deals: list[CsvDeal],
                        csv_teams: dict[str, str]) -> None:
    deals = ref.won_deals(csv_deals)
    # Hand-built history on top of the CSV:
    a = pick(deals, "Anna Snelling", "2017-09-01", "2017-09-30", last=True)
    b = pick(deals, "Anna Snelling", "2017-10-01", "2017-10-31")
    c = pick(deals, "Darcel Schlecht", "2017-05-01", "2017-05-31")
    e = pick(deals, "Moses Frase", "2017-07-01", "2017-07-31")
    churn_account, churn_day = "Cancity", dt.date(2017, 10, 15)
    in_churn = sorted((d for d in deals if d.account == churn_account
                       and churn_day - 90 * DAY <= d.closed <= churn_day),
                      key=lambda d: (d.closed, d.id))
    f = in_churn[0]
    assert len({a.id, b.id, c.id, e.id, f.id}) == 5 and churn_account not in {
        a.account, b.account, c.account, e.account}
    reversals = {
        a.id: ("lost", a.closed + 30 * DAY),       # lost in Q4, 30 days on: clawed back in Q4
        b.id: ("lost", b.closed + 20 * DAY),       # lost in the same quarter it was won
        c.id: ("lost", c.closed + 91 * DAY),       # 91 days > 90: the commission stands
        e.id: ("reopened", e.closed + 45 * DAY),   # reopened 45 days after closing
        f.id: ("lost", churn_day + 5 * DAY),       # churned before it was lost: clawed once
    }
    events = [(lost if kind == "lost" else reopened)(next(d for d in deals if d.id == i), day)
              for i, (kind, day) in reversals.items()]
    events.append(churn_event(churn_account, churn_day.isoformat()))
    res = bundled_svc.engine.process([Record(ev) for ev in events], tenant="default")
    assert (res.accepted, res.rejected) == (len(events), 0)
    bundled_svc.refresh()

    book = ref.Book([dataclasses.replace(d, reversal=reversals.get(d.id)) for d in deals],
                    csv_teams, churns=[(churn_account, churn_day)])
    expected = expected_quarterly(book, ref.clawbacks_plan, csv_teams, QUARTERS)
    claws = {ln.deal: (key, ln) for key, lines in expected.items() for ln in lines
             if ln.rule == "clawback"}
    # where each reversal lands (the amounts are what the deal earned when it was won)
    assert claws[a.id][0] == ("Anna Snelling", "2017-Q4")
    assert claws[a.id][1].source_period == "2017-Q3"
    assert claws[b.id][0] == ("Anna Snelling", "2017-Q4")
    assert claws[b.id][1].source_period == "2017-Q4"
    assert claws[e.id][0] == ("Moses Frase", "2017-Q3")
    assert c.id not in claws
    churned = {d.id for d in in_churn}
    assert {i for i, (key, _) in claws.items() if key[1] == "2017-Q4"} == {a.id, b.id} | churned
    assert len(churned) > 1 and all(claws[i][0][1] == "2017-Q4" for i in churned)
    assert all(ln.amount < 0 for _, ln in claws.values())
    compare(run_plan(bundled_svc, "clawbacks.yaml", QUARTERS), expected, {"base"})


@pytest.mark.parametrize("plan_file,recoverable", [("draws.yaml", True),
                                                   ("draws-nonrecoverable.yaml", False)])
def test_draws_plans(bundled_svc: Incentives, ref_book: ref.Book, csv_teams: dict[str, str],
                     plan_file: str, recoverable: bool) -> None:
    statements = ref.draw_plan(recoverable)
    expected = {(rep, key): lines for rep in csv_teams
                for key, lines in statements(ref_book, rep, MONTHS).items()}
    assert len(expected) == 35 * 12
    draw_lines = [ln.amount for lines in expected.values() for ln in lines if ln.rule == "draw"]
    # January and February have no deals at all: every rep is topped up to 1,500
    assert all(expected[(rep, m)][-1].amount == D(1500) for rep in csv_teams
               for m in ("2017-01", "2017-02"))
    tops = [x for x in draw_lines if x > 0]
    recoveries = [x for x in draw_lines if x < 0]
    assert len(tops) > 100
    assert bool(recoveries) is recoverable
    assert rules_fired(expected)["draw"] == len(draw_lines)
    compare(run_plan(bundled_svc, plan_file, MONTHS), expected, set())
