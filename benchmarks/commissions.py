"""Commission benchmark: one year, 1,000 reps, 1,000,000 deals, a tiered plan with splits.

Measures the pure in-memory calculator that ``attain commission`` and the live accruals use:

* ``full_recompute_s`` – index every deal (credits, splits, rep × month) and compute every
  rep's four quarterly statements (marginal tiers, deal by deal, lines rounded to cents);
* ``incremental_ms`` – one deal changes (amount, date or owner): re-index it and recompute the
  statements it affects (median over many changes; ``incremental_p95_ms`` too).

After the incremental changes a fresh full recompute must give the same totals (checked).
Prints one JSON line. ``--deals``/``--reps`` scale it down for a quick run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from attain.plugins.incentives.calc import Calculator  # noqa: E402
from attain.plugins.incentives.model import Assignment, DealFact  # noqa: E402
from attain.plugins.incentives.periods import Period  # noqa: E402
from attain.plugins.incentives.plans import load_plan_text  # noqa: E402
from attain.plugins.incentives.registry import rule_registry  # noqa: E402

PLAN = """
plan: bench-tiered
period: quarter
quota: 1500000
rules:
  - id: tiers
    type: tiered
    mode: marginal
    tiers:
      - {to_pct: 50, rate: 2%}
      - {from_pct: 50, to_pct: 100, rate: 5%}
      - {from_pct: 100, to_pct: 150, rate: 8%}
      - {from_pct: 150, rate: 10%}
"""

PRODUCTS = [("GTX Basic", "GTX"), ("GTX Pro", "GTX"), ("MG Special", "MG"),
            ("MG Advanced", "MG"), ("GTX Plus Pro", "GTX"), ("GTX Plus Basic", "GTX"),
            ("GTK 500", "GTK")]


def make_deals(n: int, reps: list[str], seed: int) -> tuple[list[DealFact], dict[str, tuple[
        tuple[str, Decimal], ...]]]:
    rnd = random.Random(seed)
    start = dt.date(2017, 1, 1)
    days = [start + dt.timedelta(days=i) for i in range(365)]
    amounts = [Decimal(rnd.randint(10_000, 1_200_000)).scaleb(-2) for _ in range(5000)]
    split_pcts = [(Decimal(50), Decimal(50)), (Decimal(60), Decimal(40)),
                  (Decimal(70), Decimal(30))]
    deals = []
    splits = {}
    for i in range(n):
        owner = reps[rnd.randrange(len(reps))]
        product, series = PRODUCTS[rnd.randrange(len(PRODUCTS))]
        closed = days[rnd.randrange(365)]
        deal_id = f"D{i:07d}"
        deals.append(DealFact(deal_id, owner, amounts[rnd.randrange(5000)], closed, product,
                              series, f"A{rnd.randrange(20_000):05d}",
                              closed - dt.timedelta(days=rnd.randrange(120))))
        if rnd.random() < 0.10:  # 10 % of deals are split between the owner and another rep
            other = reps[rnd.randrange(len(reps))]
            if other != owner:
                a, b = split_pcts[rnd.randrange(3)]
                splits[deal_id] = ((owner, a), (other, b))
    return deals, splits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--deals", type=int, default=1_000_000)
    ap.add_argument("--changes", type=int, default=200)
    ap.add_argument("--seed", type=int, default=17)
    args = ap.parse_args()

    types, owners = rule_registry()
    plan = load_plan_text(PLAN, "bench", types, owners)
    reps = [f"rep-{i:04d}" for i in range(args.reps)]
    roster = {r: f"mgr-{i // 10:03d}" for i, r in enumerate(reps)}
    quarters = [Period("quarter", 2017, q) for q in range(1, 5)]
    assignment = Assignment(plan)

    def resolver(_payee: str, _period: Period) -> Assignment:
        return assignment

    t0 = time.perf_counter()
    deals, splits = make_deals(args.deals, reps, args.seed)
    gen_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    calc = Calculator(resolver, roster)
    calc.load(deals, splits)
    index_s = time.perf_counter() - t0
    totals = {}
    lines = 0
    for rep in reps:
        for q in quarters:
            res = calc.statement(rep, q)
            totals[(rep, q)] = res.total
            lines += len(res.lines)
    full_s = time.perf_counter() - t0
    grand_total = sum(totals.values(), Decimal(0))

    # incremental: change one deal at a time, recompute what it affects
    rnd = random.Random(args.seed + 1)
    timings = []
    touched: set[str] = set()
    for _ in range(args.changes):
        old = deals[rnd.randrange(len(deals))]
        new = DealFact(old.deal_id, reps[rnd.randrange(len(reps))] if rnd.random() < 0.3
                       else old.owner, Decimal(rnd.randint(10_000, 1_200_000)).scaleb(-2),
                       dt.date(2017, 1, 1) + dt.timedelta(days=rnd.randrange(365)), old.product,
                       old.series, old.account, old.engaged_on)
        t1 = time.perf_counter()
        dirty = calc.upsert_deal(new)
        affected = {Period.of(old.closed_on, "quarter"), Period.of(new.closed_on, "quarter")}
        for payee in dirty:
            if payee in roster:  # managers have no manager-role rule in this plan
                for q in affected:
                    totals[(payee, q)] = calc.statement(payee, q).total
        timings.append((time.perf_counter() - t1) * 1000)
        deals[int(old.deal_id[1:])] = new
        touched |= dirty

    # check: a fresh full recompute agrees with the incrementally maintained totals
    fresh = Calculator(resolver, roster)
    fresh.load(deals, calc.splits)
    mismatches = sum(1 for rep in sorted(touched) if rep in roster for q in quarters
                     if fresh.statement(rep, q).total != totals[(rep, q)])

    timings.sort()
    print(json.dumps({
        "reps": args.reps, "deals": args.deals, "split_deals": len(splits),
        "statements": len(reps) * len(quarters), "lines": lines,
        "plan": "quarterly marginal tiers (4) with 10% split deals",
        "full_recompute_s": round(full_s, 2), "index_s": round(index_s, 2),
        "incremental_ms": round(statistics.median(timings), 3),
        "incremental_p95_ms": round(timings[int(len(timings) * 0.95) - 1], 3),
        "changes": args.changes, "incremental_check_mismatches": mismatches,
        "grand_total": str(grand_total), "generate_s": round(gen_s, 2),
        "python": sys.version.split()[0],
    }))


if __name__ == "__main__":
    main()
