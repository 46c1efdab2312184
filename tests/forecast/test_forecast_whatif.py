"""`attain whatif`: next year's plan under changed assumptions, bounded by hand computations
over the bundled CSV (plain Python below)."""

from __future__ import annotations

import csv
import math
import statistics
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from forecast.helpers import DATA, CsvDeal, ForecastCli

D = Decimal
CENT = D("0.01")
ONE = D(1)
# ramp over 3 months from 1 January: January at 1/4, February 2/4, March 3/4, then 1 (by days)
RAMP = Fraction(31 * 1 + 28 * 2 + 31 * 3, 4 * 365) + Fraction(365 - 90, 365)
RAMP_D = D(RAMP.numerator) / D(RAMP.denominator)
FLAT_PLAN = """\
plan: flat-4
effective_from: 2018-01-01
period: quarter
payees: all
rules:
  - id: base
    type: flat_rate
    rate: 4%
"""


def q(v: Decimal) -> Decimal:
    return v.quantize(CENT)


class Base:
    """2017 per rep from the CSV, with the quota planner's rules for new reps."""

    def __init__(self, deals: list[CsvDeal]) -> None:
        with (DATA / "sales_teams.csv").open(newline="", encoding="utf-8-sig") as f:
            self.team = {r["sales_agent"].strip(): r["manager"].strip() for r in csv.DictReader(f)}
        owners = {d.rep for d in deals}
        self.revenue = {r: D(0) for r in owners}
        self.won = {r: 0 for r in owners}
        self.lost = {r: 0 for r in owners}
        self.deals_2017 = [d for d in deals if d.closed and d.closed.year == 2017]
        for d in self.deals_2017:
            if d.stage == "Won":
                self.revenue[d.rep] += d.amount
                self.won[d.rep] += 1
            elif d.stage == "Lost":
                self.lost[d.rep] += 1
        self.new = sorted(set(self.team) - owners)
        self.median = D(statistics.median(self.revenue.values()))
        self.total = sum(self.revenue.values(), D(0))

    def new_productivity(self, rep: str) -> Decimal:
        peers = [v for r, v in self.revenue.items() if self.team.get(r) == self.team[rep]]
        return D(statistics.median(peers)) if peers else self.median

    def rate(self, rep: str) -> Decimal:
        return D(self.won[rep]) / D(self.won[rep] + self.lost[rep])

    def expected(self, factor_of: dict[str, Decimal] | None = None, new_factor: Decimal = ONE
                 ) -> Decimal:
        """Σ rounded expected revenue: existing reps at full capacity, new reps ramping."""
        f = factor_of or {}
        return (sum((q(v * f.get(r, D(1))) for r, v in self.revenue.items()), D(0))
                + sum((q(self.new_productivity(r) * RAMP_D * new_factor) for r in self.new), D(0)))


@pytest.fixture(scope="module")
def base(csv_deals: list[CsvDeal]) -> Base:
    return Base(csv_deals)


def whatif(cli: ForecastCli, *args: str) -> dict:
    return cli.json("whatif", "--year", "2018", *args, "--format", "json")  # type: ignore[no-any-return]


def test_baseline_equals_last_year_and_the_quota_plan(ro_cli: ForecastCli, base: Base) -> None:
    r = whatif(ro_cli)
    assert r["base_actual"] == base.total == D(10005534)
    assert r["target"] == q(base.total * D("1.1"))
    assert len(base.new) == 5 and r["headcount"] == 35
    assert r["expected_revenue"] == base.expected()
    assert r["capacity_gap"] == r["target"] - r["expected_revenue"]
    # the quotas are those `attain plan quotas` (goals plugin) proposes for the same growth
    plan = ro_cli.json("plan", "quotas", "--year", "2018", "--growth", "10%", "--format", "json")
    assert r["target"] == plan["target"] and r["quota_total"] == plan["quota_total"]
    assert r["quota_coverage"] == (r["quota_total"] / r["target"]).quantize(D("0.0001"))


def test_win_rate_plus_ten_percent_on_a_flat_plan(ro_cli: ForecastCli, base: Base,
                                                  tmp_path: Path) -> None:
    plan = tmp_path / "flat.yaml"
    plan.write_text(FLAT_PLAN)
    before = whatif(ro_cli, "--plan", str(plan))
    after = whatif(ro_cli, "--plan", str(plan), "--win-rate", "+10%")
    # no bundled rep wins more than 1/1.1 of their deals, so every win rate rises by 10 %
    assert max(base.rate(r) for r in base.revenue if base.won[r] + base.lost[r]) * D("1.1") < 1
    ten = {r: D("1.1") for r in base.revenue}
    assert after["expected_revenue"] == base.expected(ten, D("1.1"))
    # the raise is 10 % of the expected revenue, up to a cent per rep of rounding
    raise_ = after["expected_revenue"] - before["expected_revenue"]
    assert abs(raise_ - before["expected_revenue"] * D("0.1")) <= D("0.01") * 35
    # a flat 4 % plan costs 4 % of what is credited, up to a cent of rounding per line
    lines = len([d for d in base.deals_2017 if d.stage == "Won"]) + 5 * 400
    for r in (before, after):
        assert abs(r["commission_cost"] - r["expected_revenue"] * D("0.04")) <= D("0.01") * lines
        assert r["commission_rate"] == (r["commission_cost"] / r["expected_revenue"]).quantize(
            D("0.0001"))
        assert r["cost_of_sales"] == r["commission_cost"]
    assert abs(after["commission_cost"] - before["commission_cost"] * D("1.1")) <= D("0.01") * lines


def test_existing_reps_commission_is_exact_on_a_flat_plan(ro_cli: ForecastCli, base: Base,
                                                          tmp_path: Path) -> None:
    """With --deal-size +8 %, the existing reps' deals are their 2017 wins × 1.08 (cents), each
    paid 4 % half-even; the new reps' share is bounded by 4 % of their expected revenue."""
    plan = tmp_path / "flat.yaml"
    plan.write_text(FLAT_PLAN)
    r = whatif(ro_cli, "--plan", str(plan), "--deal-size", "+8%")
    existing = sum(((D("0.04") * q(d.amount * D("1.08"))).quantize(CENT, ROUND_HALF_EVEN)
                    for d in base.deals_2017 if d.stage == "Won"), D(0))
    new_expected = sum((q(base.new_productivity(n) * RAMP_D * D("1.08")) for n in base.new), D(0))
    rest = r["commission_cost"] - existing
    assert abs(rest - new_expected * D("0.04")) <= D("0.01") * 5 * 400


def test_levers_headcount_cycle_points_and_cost(ro_cli: ForecastCli, base: Base) -> None:
    plain = whatif(ro_cli)
    hire = q(base.median * RAMP_D)
    hired = whatif(ro_cli, "--headcount", "+3")
    assert hired["hire_expected_revenue"] == hire
    assert hired["expected_revenue"] == plain["expected_revenue"] + 3 * hire
    assert hired["headcount"] == 38
    shorter = whatif(ro_cli, "--cycle", "-10%")
    nine = {r: D(1) / D("0.9") for r in base.revenue}
    assert shorter["expected_revenue"] == base.expected(nine, D(1) / D("0.9"))
    points = whatif(ro_cli, "--win-rate", "+5pp")
    pp = {r: (base.rate(r) + D("0.05")) / base.rate(r) for r in base.revenue
          if base.won[r] + base.lost[r]}
    team_rates: dict[str, tuple[int, int]] = {}
    for r in base.revenue:
        w, l_ = team_rates.get(base.team.get(r, ""), (0, 0))
        team_rates[base.team.get(r, "")] = (w + base.won[r], l_ + base.lost[r])
    new_sum = D(0)
    for n in base.new:
        w, l_ = team_rates[base.team[n]]
        rate = D(w) / D(w + l_)
        new_sum += q(base.new_productivity(n) * RAMP_D * (rate + D("0.05")) / rate)
    assert points["expected_revenue"] == sum((q(v * pp[r]) for r, v in base.revenue.items()),
                                             D(0)) + new_sum
    # a 50 % growth target is out of reach: the gap in ramping hires, rounded up
    far = whatif(ro_cli, "--growth", "50%", "--rep-cost", "100000")
    gap = q(base.total * D("1.5")) - plain["expected_revenue"]
    assert far["capacity_gap"] == gap > 0
    assert far["hires_needed"] == math.ceil(gap / hire)
    assert far["cost_of_sales"] == q(D(100000) * (30 + 5 * RAMP_D))
    assert far["fte"] == (30 + 5 * RAMP_D).quantize(D("0.0001"))


def test_whatif_user_errors(ro_cli: ForecastCli, wide_errors: None) -> None:
    for args, message in [(("--win-rate", "lots"), "--win-rate"),
                          (("--deal-size", "-100%"), "--deal-size"),
                          (("--deal-size", "+5pp"), "only apply to the win rate"),
                          (("--headcount", "-99"), "there are only 35 reps"),
                          (("--plan", "/nonexistent/plan.yaml"), "cannot read")]:
        res = ro_cli("whatif", "--year", "2018", *args, ok=False)
        assert res.exit_code == 2, (args, res.stdout, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], lines
    res = ro_cli("whatif", "--year", "2017", ok=False)
    assert res.exit_code == 2 and "no won revenue in 2016" in res.stderr
