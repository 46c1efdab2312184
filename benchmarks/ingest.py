"""Ingest throughput: `attain ingest` on generated deal events vs. a parse-and-validate baseline.

Usage: python benchmarks/ingest.py [--events 1000000] [--versions 4]

Generates N deal events (N / versions deals, each with `versions` snapshots, lightly shuffled so
some arrive out of order), then measures in the same run:

* baseline: read the JSON lines and validate each with the core's event model (nothing else);
* floor:    the baseline plus a bare insert of each event's event-log row (the same columns,
            index, pragmas and batch size as Attain's store) into a fresh SQLite file: what any
            ingest that durably logs every event cannot beat on one core;
* attain:   `attain ingest FILE` end to end (a fresh SQLite database, one process, one core).

Prints one JSON line: events, seconds, events_per_s, cpu_seconds (of the ingest process),
baseline_events_per_s, ratio (attain / baseline), floor_events_per_s, floor_ratio (floor /
baseline: the highest ratio such a design can reach here), ratio_to_floor (attain / floor), the
ingest summary and the load average while it ran. Targets: ratio ≥ 0.5 and ≥ 50,000 events/s
(issue 1); ratio_to_floor no lower than before the KPI roll-ups (0.47, issue 14).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from attain.core.models import EVENT_ADAPTER
from deal_events import deal_events  # benchmarks/ (the script's folder is on sys.path)


def generate(path: Path, events: int, versions: int) -> None:
    path.write_text("\n".join(deal_events(events, versions)) + "\n")


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


def floor(path: Path, db: Path, batch: int = 50000) -> tuple[int, float]:
    """Validate every line and insert its event-log row, nothing else (no dedupe, no KPIs)."""
    from attain.core.models import entity_key
    from attain.core.store import Store

    store = Store(f"sqlite:///{db}")  # Attain's own schema (migrations) and connection pragmas
    pooled = store.engine.raw_connection()
    conn = pooled.driver_connection  # the sqlite3 connection (autocommit: BEGIN is explicit)
    assert conn is not None
    sql = ("INSERT INTO events (tenant, event_id, type, entity_id, version, payload) "
           "VALUES (?, ?, ?, ?, ?, ?)")
    rows: list[tuple[object, ...]] = []

    def flush() -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows)
        conn.execute("COMMIT")

    start = time.perf_counter()
    n = 0
    with path.open("rb") as f:
        for raw in f:
            line = raw.strip()
            if not line:
                continue
            ev = EVENT_ADAPTER.validate_json(line)
            rows.append((ev.tenant, ev.event_id, ev.type, entity_key(ev),
                         getattr(ev, "version", None), line.decode()))
            if len(rows) >= batch:
                flush()
                n += len(rows)
                rows.clear()
    if rows:
        flush()
        n += len(rows)
    elapsed = time.perf_counter() - start
    pooled.close()
    store.dispose()
    return n, elapsed


def attain_ingest(path: Path, db: Path) -> tuple[str, float, float]:
    """`attain ingest` in a subprocess: (summary line, wall seconds, CPU seconds).

    With bytecode caching on, as on a user's machine (benchmarks/cli.py does the same; any
    non-empty PYTHONDONTWRITEBYTECODE turns it off), after one small ingest into a throwaway
    database: the timed run does not compile every module it imports (~2 s here), which the
    baseline and the floor, run in this process after its imports, do not pay either."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    exe = Path(sys.executable).with_name("attain")
    warm = db.with_name("warm-up.jsonl")
    warm.write_text("\n".join(deal_events(100, 4, "warm")) + "\n")
    subprocess.run([str(exe), "ingest", str(warm), "--quiet"], check=True, capture_output=True,
                   env={**env, "ATTAIN_DATABASE_URL": f"sqlite:///{db.with_name('warm-up.db')}"})
    env["ATTAIN_DATABASE_URL"] = f"sqlite:///{db}"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run([str(exe), "ingest", str(path), "--quiet"], env=env, check=True,
                         capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out.stdout.strip().splitlines()[-1], wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--versions", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "events.jsonl"
        generate(data, args.events, args.versions)
        n, base_s = baseline(data)
        fn, floor_s = floor(data, Path(tmp) / "floor.db")
        summary, s, cpu = attain_ingest(data, Path(tmp) / "bench.db")
    eps, base_eps, floor_eps = n / s, n / base_s, fn / floor_s
    print(json.dumps({
        "benchmark": "ingest", "events": n, "seconds": round(s, 2), "cpu_seconds": round(cpu, 2),
        "events_per_s": round(eps), "baseline_seconds": round(base_s, 2),
        "baseline_events_per_s": round(base_eps), "ratio": round(eps / base_eps, 3),
        "floor_events_per_s": round(floor_eps), "floor_ratio": round(floor_eps / base_eps, 3),
        "ratio_to_floor": round(eps / floor_eps, 3),
        "summary": summary, "loadavg_1m": round(os.getloadavg()[0], 2),
        "target": {"ratio": 0.5, "events_per_s": 50000, "ratio_to_floor": 0.47},
    }))


if __name__ == "__main__":
    main()
