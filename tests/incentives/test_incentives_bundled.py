"""The bundled CRM data under the sample plans, against payouts computed straight from the CSV
with plain arithmetic (no plugin code)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from attain.plugins.incentives.periods import Period
from attain.plugins.incentives.service import Incentives

from .incentives_helpers import EXAMPLES, SERIES, CsvDeal
from .incentives_helpers import round_half_even_cents as r2

D = Decimal
QUARTERS = [Period.parse(f"2017-Q{i}") for i in range(1, 5)]


def won(csv_deals: list[CsvDeal]) -> list[CsvDeal]:
    return [d for d in csv_deals if d.stage == "Won"]


def by_rep_quarter(deals: list[CsvDeal]) -> dict[tuple[str, str], list[CsvDeal]]:
    out: dict[tuple[str, str], list[CsvDeal]] = defaultdict(list)
    for d in sorted(deals, key=lambda d: (d.closed, d.id)):
        out[(d.agent, d.quarter)].append(d)
    return out


def run_all(svc: Incentives, plan_file: str) -> dict[tuple[str, str], Decimal]:
    svc.load_plan(EXAMPLES / plan_file)
    out = {}
    for q in QUARTERS:
        for o in svc.run(q):
            assert o.status != "error", o
            out[(o.payee, o.period)] = o.total
    return out


def test_flat_rate_plan_on_bundled_data(bundled_svc: Incentives, csv_deals: list[CsvDeal]
                                        ) -> None:
    deals = won(csv_deals)
    assert len(deals) == 4238
    first: dict[str, CsvDeal] = {}
    for d in sorted(deals, key=lambda d: (d.closed, d.id)):
        if d.account:
            first.setdefault(d.account, d)
    expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for d in deals:
        v = D(d.value)
        pay = r2(v * D("0.04"))
        if SERIES[d.product_name] == "GTX":
            pay += r2(v * D("0.01"))
        if d.account and first[d.account].id == d.id:
            pay += r2(v * D("0.02"))
        expected[(d.agent, d.quarter)] += pay
    got = run_all(bundled_svc, "flat-rate.yaml")
    nonzero = {k: v for k, v in got.items() if v}
    assert nonzero == {k: v for k, v in expected.items() if v}
    assert sum(got.values()) == sum(expected.values())
    assert len(nonzero) == 30 * 4  # 30 reps with won deals in each quarter


def test_tiered_retroactive_plan_on_bundled_data(bundled_svc: Incentives,
                                                 csv_deals: list[CsvDeal]) -> None:
    quota = D(80000)
    expected = {}
    for key, ds in by_rep_quarter(won(csv_deals)).items():
        total = sum(D(d.value) for d in ds)
        rate = D("0.07") if total >= quota else D("0.05") if total >= quota * D("0.6") \
            else D("0.03")
        expected[key] = sum((r2(D(d.value) * rate) for d in ds), D(0))
    got = run_all(bundled_svc, "tiered-retroactive.yaml")
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in expected.items() if v}


def marginal(deals: list[tuple[Decimal, Decimal]], quota: Decimal,
             tiers: list[tuple[Decimal, Decimal | None, Decimal]]) -> Decimal:
    """Σ over (amount, share%) in order of the rounded slices, by interval overlap."""
    total = D(0)
    cum = D(0)
    for amount, _share in deals:
        a, b = cum, cum + amount
        for lo, hi, rate in tiers:
            lo_m = quota * lo / 100
            hi_m = b if hi is None else quota * hi / 100
            part = min(hi_m, b) - max(lo_m, a)
            if part > 0:
                total += r2(part * rate)
        cum = b
    return total


def test_splits_and_manager_overrides_on_bundled_data(bundled_svc: Incentives,
                                                      csv_deals: list[CsvDeal],
                                                      csv_teams: dict[str, str]) -> None:
    splits = {"1C1I7A6R": {"Moses Frase": D(60), "Darcel Schlecht": D(40)},
              "Z063OYW0": {"Darcel Schlecht": D(50), "Moses Frase": D(25),
                           "Anna Snelling": D(25)}}
    credits: list[tuple[CsvDeal, str, Decimal, Decimal]] = []  # deal, rep, share, amount
    for d in won(csv_deals):
        for rep, share in (splits.get(d.id) or {d.agent: D(100)}).items():
            credits.append((d, rep, share, D(d.value) * share / 100))
    rep_expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    team_credits: dict[tuple[str, str], list[tuple[Decimal, Decimal]]] = defaultdict(list)
    for d, rep, share, amount in sorted(credits, key=lambda c: (c[0].closed, c[0].id, c[1])):
        rep_expected[(rep, d.quarter)] += r2(amount * D("0.05"))
        team_credits[(csv_teams[rep], d.quarter)].append((amount, share))
    team_size = defaultdict(int)
    for mgr in csv_teams.values():
        team_size[mgr] += 1
    tiers = [(D(0), D(100), D("0.005")), (D(100), None, D("0.01"))]
    expected = dict(rep_expected)
    for (mgr, q), cs in team_credits.items():
        expected[(mgr, q)] = marginal(cs, D(80000) * team_size[mgr], tiers)
    got = run_all(bundled_svc, "splits-overrides.yaml")
    assert {k: v for k, v in got.items() if v} == {k: v for k, v in expected.items() if v}
    # the split deal shows on both statements with its share
    moses = bundled_svc.explain("Moses Frase", QUARTERS[0])
    line = [ln for ln in moses["lines"] if ln["deal"] == "1C1I7A6R"][0]
    assert (line["share_pct"], line["basis"], line["amount"]) == (D(60), D("632.4"), D("31.62"))


def test_every_statement_sums_exactly_under_the_full_tiered_plan(bundled_svc: Incentives
                                                                  ) -> None:
    got = run_all(bundled_svc, "tiered.yaml")
    assert got[("Darcel Schlecht", "2017-Q3")] == D("20000.00")  # the period cap binds
    for (rep, period), total in got.items():
        st = bundled_svc.explain(rep, Period.parse(period))
        assert st["check"]["equals_total"] and st["total"] == total
        for ln in st["lines"]:
            assert ln["amount"] == ln["amount"].quantize(D("0.01"))
            assert ln["plugin"] == "incentives"
