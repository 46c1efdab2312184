"""Ingest throughput: `attain ingest` on generated deal events vs. a parse-and-validate baseline.

Usage: python benchmarks/ingest.py [--events 1000000] [--versions 4]

Generates N deal events (N / versions deals, each with `versions` snapshots, lightly shuffled so
some arrive out of order), then measures in the same run:

* baseline: read the JSON lines and validate each with the core's event model (nothing else);
* attain:   `attain ingest FILE` end to end (a fresh SQLite database, one process, one core).

Prints one JSON line: events, seconds, events_per_s, baseline_events_per_s, ratio and the
ingest summary. Target: ratio ≥ 0.5 and ≥ 50,000 events/s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from attain.core.models import EVENT_ADAPTER

STAGES = [("Prospecting", "open"), ("Engaging", "open"), ("Won", "won"), ("Lost", "lost")]


def generate(path: Path, events: int, versions: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    reps = [f"Rep {i:03d}" for i in range(200)]
    products = ["GTX Basic", "GTX Pro", "MG Special", "MG Advanced", "GTX Plus Pro", "GTX Plus Basic", "GTK 500"]
    accounts = [f"Account {i:03d}" for i in range(300)]
    deals = events // versions
    lines: list[str] = []
    for d in range(deals):
        owner, product, account = rng.choice(reps), rng.choice(products), rng.choice(accounts)
        engaged = f"2017-{rng.randint(1, 6):02d}-{rng.randint(1, 28):02d}"
        closed = f"2017-{rng.randint(7, 12):02d}-{rng.randint(1, 28):02d}"
        for v in range(1, versions + 1):
            final = v == versions
            stage, status = STAGES[2 + (d % 2)] if final else STAGES[min(v - 1, 1)]
            ev = {"type": "deal", "event_id": f"d{d}-v{v}", "deal_id": f"d{d}", "version": v,
                  "occurred_at": f"{closed if final else engaged}T10:00:00Z", "owner": owner,
                  "account": account, "product": product, "stage": stage, "status": status,
                  "amount": str(rng.randint(100, 20000)) + ".50" if status != "open" or v > 1 else None,
                  "engaged_on": engaged if v > 1 else None, "closed_on": closed if final else None}
            lines.append(json.dumps(ev, separators=(",", ":")))
    # light shuffle: swap neighbours so a later version sometimes arrives first
    for i in range(0, len(lines) - 1, 7):
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
    path.write_text("\n".join(lines) + "\n")


def baseline(path: Path) -> tuple[int, float]:
    start = time.perf_counter()
    n = 0
    with path.open("rb") as f:
        for raw in f:
            line = raw.strip()
            if line:
                EVENT_ADAPTER.validate_json(line)
                n += 1
    return n, time.perf_counter() - start


def attain_ingest(path: Path, db: Path) -> tuple[str, float]:
    env = {**os.environ, "ATTAIN_DATABASE_URL": f"sqlite:///{db}"}
    exe = Path(sys.executable).with_name("attain")
    start = time.perf_counter()
    out = subprocess.run([str(exe), "ingest", str(path), "--quiet"], env=env, check=True,
                         capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1], time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--versions", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "events.jsonl"
        generate(data, args.events, args.versions)
        n, base_s = baseline(data)
        summary, s = attain_ingest(data, Path(tmp) / "bench.db")
    eps, base_eps = n / s, n / base_s
    print(json.dumps({
        "benchmark": "ingest", "events": n, "seconds": round(s, 2),
        "events_per_s": round(eps), "baseline_seconds": round(base_s, 2),
        "baseline_events_per_s": round(base_eps), "ratio": round(eps / base_eps, 3),
        "summary": summary, "target": {"ratio": 0.5, "events_per_s": 50000},
    }))


if __name__ == "__main__":
    main()
