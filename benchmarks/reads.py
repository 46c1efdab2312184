"""KPI read latency: `Engine.kpis` for every grouping (in process and through the CLI) against a
plain SQL `GROUP BY` over the same `deals` table.

Usage: python benchmarks/reads.py [--deals 100000] [--deals 1000000] [--cli/--no-cli]

For each size: generates N deals of one version each (`benchmarks/deal_events.py`), ingests them
with `attain ingest` into a fresh SQLite file, loads a roster (200 reps under 10 managers in 4
regions), an account list (sectors) and a product catalogue (series, list prices), then measures
in the same run:

* baseline: `SELECT owner, status, count(*), sum(amount) FROM deals GROUP BY owner, status`
  (sqlite3, the same file);
* `<grouping>_s`: `Engine.kpis(tenant, grouping)` in a fresh process (best of 3, after one warm-up
  read of the reference data), for every grouping and a few combinations (`rep,month` …);
* `cli_<grouping>_s`: `attain kpi --by <grouping> --format json` end to end (process start
  included), unless `--no-cli`;
* `<grouping>+period_metrics_s`: the same read with the period metrics (new customers, churn
  rate, CAC …; `all+period_metrics_first_s`: the first such read of a new engine);
* `max_ratio`: the slowest in-process grouping ÷ baseline; `peak_mb`: the peak resident memory
  of the in-process reader (every grouping read in that one process).

Prints one JSON line per size. Targets: max_ratio ≤ 0.3, peak_mb ≤ 150, flat from 100k to 1M.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

GROUPINGS = ["all", "rep", "manager", "region", "product", "series", "account", "sector",
             "year", "quarter", "month", "week", "day", "rep,month", "region,quarter",
             "product,week", "sector,quarter"]
PERIOD_READS = {"rep@2017-Q3": ("rep", "2017-Q3"), "rep@2017-07-05..2017-08-20": ("rep", "2017-07-05..2017-08-20")}
HERE = Path(__file__).resolve().parent


def generate(path: Path, deals: int) -> None:
    sys.path.insert(0, str(HERE))
    from deal_events import deal_events

    with path.open("w") as f:
        for line in deal_events(deals, 1):
            f.write(line + "\n")


def reference_data(url: str) -> None:
    from attain.core import Account, Engine, Product, Rep, Store
    from deal_events import PRODUCTS

    engine = Engine(Store(url))
    reps = [Rep(name=f"Rep {i:03d}", manager=f"Manager {i % 10}", region=["East", "West", "North", "South"][i % 4])
            for i in range(200)]
    accounts = [Account(name=f"Account {i:03d}", sector=["retail", "software", "medical"][i % 3]) for i in range(300)]
    products = [Product(name=p, series=p.split()[0], list_price=f"{1000 + 250 * i}.00")  # type: ignore[arg-type]
                for i, p in enumerate(PRODUCTS)]
    engine.save_dimensions("default", reps, accounts, products)
    engine.store.dispose()


def baseline(db: Path, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        conn = sqlite3.connect(db)
        start = time.perf_counter()
        conn.execute("SELECT owner, status, count(*), sum(amount) FROM deals GROUP BY owner, status").fetchall()
        best = min(best, time.perf_counter() - start)
        conn.close()
    return best


def best_of(read: Callable[[], object], runs: int = 3) -> float:
    """The fastest of ``runs`` calls of ``read``, in seconds (4 decimals)."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        read()
        best = min(best, time.perf_counter() - start)
    return round(best, 4)


def measure(url: str) -> dict[str, float]:
    """In this process: every grouping's best-of-3 read time and the peak RSS."""
    from attain.core import Engine, Store

    engine = Engine(Store(url))
    engine.dimensions("default")  # warm-up: migrations checked, plugins loaded, connection open
    engine.kpis("default", "all")
    out: dict[str, float] = {}
    reads: dict[str, tuple[str, str | None]] = {g: (g, None) for g in GROUPINGS}
    reads.update(PERIOD_READS)
    for name, (g, period) in reads.items():
        out[f"{name}_s"] = best_of(lambda g=g, period=period: engine.kpis("default", g, period=period))
    # the period metrics (company figures from state across events): the first read of a new
    # engine reads the state (first won day per account, facts), later ones reuse it until the
    # next event
    fresh = Engine(Store(url))
    fresh.dimensions("default")
    start = time.perf_counter()
    fresh.kpis("default", "all", period_metrics=True)
    out["all+period_metrics_first_s"] = round(time.perf_counter() - start, 4)
    for g in ("all", "quarter", "month", "day"):
        out[f"{g}+period_metrics_s"] = best_of(lambda g=g: fresh.kpis("default", g, period_metrics=True))
    out["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def run(deals: int, cli: bool) -> dict[str, object]:
    exe = Path(sys.executable).with_name("attain")
    with tempfile.TemporaryDirectory() as tmp:
        data, db = Path(tmp) / "deals.jsonl", Path(tmp) / "reads.db"
        url = f"sqlite:///{db}"
        env = {**os.environ, "ATTAIN_DATABASE_URL": url}
        subprocess.run([sys.executable, __file__, "--generate", str(data), str(deals)], check=True)
        start = time.perf_counter()
        subprocess.run([str(exe), "ingest", str(data), "--quiet"], env=env, check=True, capture_output=True)
        ingest_s = time.perf_counter() - start
        subprocess.run([sys.executable, __file__, "--reference", url], check=True)
        base = baseline(db)
        got = json.loads(subprocess.run([sys.executable, __file__, "--measure", url], check=True,
                                        capture_output=True, text=True).stdout)
        result: dict[str, object] = {"benchmark": "reads", "deals": deals, "ingest_s": round(ingest_s, 1),
                                     "baseline_s": round(base, 4)}
        result.update(got)
        timed = [v for k, v in got.items() if k.endswith("_s")]
        result["max_ratio"] = round(max(timed) / base, 3)
        if cli:
            for g in [*GROUPINGS, "rep --period 2017-Q3"]:
                args = [str(exe), "kpi", "--by", *g.split(" "), "--format", "json"]
                start = time.perf_counter()
                subprocess.run(args, env=env, check=True, capture_output=True)
                result[f"cli_{g.replace(' --period ', '@')}_s"] = round(time.perf_counter() - start, 3)
        result["loadavg_1m"] = round(os.getloadavg()[0], 2)
        result["target"] = {"max_ratio": 0.3, "peak_mb": 150, "cli_rep,month_s": 2.0}
        return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--generate":
        generate(Path(sys.argv[2]), int(sys.argv[3]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--reference":
        sys.path.insert(0, str(HERE))
        reference_data(sys.argv[2])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--measure":
        print(json.dumps(measure(sys.argv[2])))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deals", type=int, action="append",
                    help="deals to generate (repeatable; default 100000, add 1000000 for the full run)")
    ap.add_argument("--cli", action=argparse.BooleanOptionalAction, default=True,
                    help="also time `attain kpi` through the CLI")
    args = ap.parse_args()
    for n in args.deals or [100_000]:
        print(json.dumps(run(n, args.cli)), flush=True)


if __name__ == "__main__":
    main()
