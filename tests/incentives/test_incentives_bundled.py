"""The quarterly sample plans on the bundled CRM data: every statement (every rep, and manager
where the plan pays managers, in every quarter of 2017) has exactly the lines and total of the
independent reference (tests/incentives/reference.py), computed from the CSV."""

from __future__ import annotations

from decimal import Decimal

from attain.plugins.incentives.service import Incentives

from . import reference as ref
from .incentives_helpers import CsvDeal
from .sample_plans import compare, expected_quarterly, rules_fired, run_plan

D = Decimal
QUARTERS = ref.quarters(2017)


def test_flat_rate_plan(bundled_svc: Incentives, ref_book: ref.Book, csv_teams: dict[str, str]
                        ) -> None:
    expected = expected_quarterly(ref_book, ref.flat_rate_plan, csv_teams, QUARTERS)
    # every rep of the roster has a statement every quarter (5 of them without deals: empty)
    assert len(expected) == 35 * 4
    # 30 reps with won deals in every quarter; 30 of the 120 rep-quarters close a "new" deal
    assert rules_fired(expected) == {"base": 120, "gtx-kicker": 119, "new-logo": 30}
    compare(run_plan(bundled_svc, "flat-rate.yaml", QUARTERS), expected, set())


def test_tiered_plan_with_accelerator_decelerator_gate_and_caps(
        bundled_svc: Incentives, ref_book: ref.Book, csv_teams: dict[str, str]) -> None:
    expected = expected_quarterly(ref_book, ref.tiered_plan, csv_teams, QUARTERS)
    # the data exercises every rule: modifiers and both caps included
    fired = rules_fired(expected)
    assert set(fired) == {"tiers", "accelerator", "decelerator", "gate", "cap"}
    assert min(fired.values()) > 0
    per_period_caps = [k for k, lines in expected.items()
                       if any(ln.rule == "cap" for ln in lines)
                       and sum((ln.amount for ln in lines), D(0)) == D(20000)]
    # Darcel Schlecht's Q3: 373,218 credited on a 200,000 quota; the 20,000 period cap binds
    assert ("Darcel Schlecht", "2017-Q3") in per_period_caps
    compare(run_plan(bundled_svc, "tiered.yaml", QUARTERS), expected,
            {"tiers"})


def test_tiered_retroactive_plan(bundled_svc: Incentives, ref_book: ref.Book,
                                 csv_teams: dict[str, str]) -> None:
    expected = expected_quarterly(ref_book, ref.tiered_retroactive_plan, csv_teams, QUARTERS)
    tiers_reached = {lines[0].tier for lines in expected.values() if lines}
    assert tiers_reached == {"0-60%", "60-100%", "100%+"}
    compare(run_plan(bundled_svc, "tiered-retroactive.yaml", QUARTERS), expected, {"tiers"})


def test_bonuses_plan(bundled_svc: Incentives, ref_book: ref.Book, csv_teams: dict[str, str]
                      ) -> None:
    expected = expected_quarterly(ref_book, ref.bonuses_plan, csv_teams, QUARTERS)
    fired = rules_fired(expected)
    assert set(fired) == {"base", "milestones", "stretch", "gtx-pro-summer", "fast-close"}
    compare(run_plan(bundled_svc, "bonuses.yaml", QUARTERS), expected, set())


def test_splits_and_manager_overrides_plan(bundled_svc: Incentives, csv_deals: list[CsvDeal],
                                           csv_teams: dict[str, str]) -> None:
    book = ref.Book(ref.won_deals(csv_deals), csv_teams, splits=ref.SPLITS)
    managers = set(csv_teams.values())
    assert len(managers) == 6
    expected = expected_quarterly(book, ref.splits_overrides_plan, set(csv_teams) | managers,
                                  QUARTERS)
    got = run_plan(bundled_svc, "splits-overrides.yaml", QUARTERS)
    compare(got, expected, {"override"})
    # the split deal shows on both statements with its share: 60 % of 1,054 at 5 %
    moses = [d for d in got[("Moses Frase", "2017-Q1")]["lines"] if d["deal"] == "1C1I7A6R"]
    assert [(d["share_pct"], d["basis"], d["amount"]) for d in moses] == [
        (D(60), D("632.4"), D("31.62"))]
    darcel = [d for d in got[("Darcel Schlecht", "2017-Q1")]["lines"] if d["deal"] == "1C1I7A6R"]
    assert [(d["share_pct"], d["amount"]) for d in darcel] == [(D(40), D("21.08"))]


def test_json_plan_with_a_period_cap(bundled_svc: Incentives, ref_book: ref.Book,
                                     csv_teams: dict[str, str]) -> None:
    expected = expected_quarterly(ref_book, ref.json_plan, csv_teams, QUARTERS)
    capped = sorted(k for k, lines in expected.items() if any(ln.rule == "cap" for ln in lines))
    # the rep-quarters above 300,000 credited (5 % of it is more than 15,000)
    assert capped == [("Darcel Schlecht", "2017-Q2"), ("Darcel Schlecht", "2017-Q3"),
                      ("Darcel Schlecht", "2017-Q4")]
    assert all(sum((ln.amount for ln in expected[k]), D(0)) == D(15000) for k in capped)
    compare(run_plan(bundled_svc, "plan.json", QUARTERS), expected, set())
