"""What-if benchmark: `attain whatif --year 2018` recomputed on the bundled data and on a 100×
synthetic scale-up of it.

* ``bundled``: the bundled CRM data imported into a temporary SQLite store; ``load_s`` is the
  one read of the store (:class:`attain.plugins.forecast.whatif.Basis`), ``recompute_s`` the
  plan under the issue's levers (+3 hires, +5 % win rate, +8 % deal size, -10 % cycle, 3 ramp
  months) with the tiered commission plan costed, ``total_s`` both (``total_cpu_s`` the
  process's CPU time, less sensitive to a busy machine; ``load_average`` while measured); the
  median of 5 runs;
* ``scaled_100x``: the same basis with every rep and deal copied 100 times (3,500 reps,
  423,800 won deals), recomputed once (no store: the scale-up is in memory).

Prints one JSON object with the figures (expected revenue, coverage, gap, hires, commission
cost) next to the timings. ``--scale N`` changes the scale-up.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from attain.core import Engine, Store, get_plugins  # noqa: E402
from attain.core.cli import import_source  # noqa: E402
from attain.plugins.forecast.whatif import Basis, Lever, load_plan, recompute  # noqa: E402

PLAN = ROOT / "examples" / "plans" / "tiered.yaml"
LEVERS = {"headcount": 3, "win_rate": Lever(Decimal("0.05")), "deal_size": Lever(Decimal("0.08")),
          "cycle": Lever(Decimal("-0.10")), "ramp_months": 3}
FIGURES = ("expected_revenue", "target", "quota_coverage", "expected_coverage", "capacity_gap",
           "hires_needed", "commission_cost", "cost_of_sales_ratio", "headcount")


def _figures(r: dict) -> dict:
    return {k: str(r[k]) for k in FIGURES}


def scaled(basis: Basis, n: int) -> Basis:
    """``basis`` with every rep (and their deals) copied ``n`` times."""
    reps, deals = [], {}
    for i in range(n):
        for r in basis.reps:
            name = f"{r['rep']} #{i}"
            reps.append({**r, "rep": name,
                         "manager": f"{r['manager']} #{i}" if r["manager"] else None})
            if r["rep"] in basis.deals:
                deals[name] = [d.model_copy(update={"owner": name, "deal_id": f"{d.deal_id}#{i}"})
                               for d in basis.deals[r["rep"]]]
    return Basis(basis.year, basis.base_actual * n, reps, basis.win_all, basis.median, deals)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=int, default=100)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    plan = load_plan(PLAN)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/bench.db")
        engine = Engine(store, get_plugins())
        import_source(engine, "crm-csv", str(ROOT / "core" / "data" / "crm-sales-opportunities"),
                      "default", quiet=True)
        loads, recomputes, totals, cpus = [], [], [], []
        for _ in range(args.runs):
            c0, t0 = time.process_time(), time.perf_counter()
            basis = Basis.load(engine, "default", 2018)
            t1 = time.perf_counter()
            result = recompute(basis, plan=plan, **LEVERS)  # type: ignore[arg-type]
            t2 = time.perf_counter()
            loads.append(t1 - t0)
            recomputes.append(t2 - t1)
            totals.append(t2 - t0)
            cpus.append(time.process_time() - c0)
        store.dispose()
    big = scaled(basis, args.scale)
    c0, t0 = time.process_time(), time.perf_counter()
    big_result = recompute(big, plan=plan, **LEVERS)  # type: ignore[arg-type]
    big_s, big_cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({
        "bundled": {"reps": len(basis.reps), "won_deals": sum(len(v) for v in basis.deals.values()),
                    "load_s": round(statistics.median(loads), 4),
                    "recompute_s": round(statistics.median(recomputes), 4),
                    "total_s": round(statistics.median(totals), 4),
                    "total_cpu_s": round(statistics.median(cpus), 4),
                    "load_average": round(os.getloadavg()[0], 2), **_figures(result)},
        f"scaled_{args.scale}x": {"reps": len(big.reps),
                                  "won_deals": sum(len(v) for v in big.deals.values()),
                                  "recompute_s": round(big_s, 4),
                                  "recompute_cpu_s": round(big_cpu, 4), **_figures(big_result)},
    }))


if __name__ == "__main__":
    main()
