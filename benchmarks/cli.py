"""CLI start-up benchmark: how long `attain --help` and `attain kpi` take, against a bare interpreter.

Usage: python benchmarks/cli.py [--runs 7] [--deals 1000]

In one run: a small SQLite database (--deals generated deals, one version each, ingested with
`attain ingest`), then each command --runs times as a fresh process (the installed `attain`
console script), and as the baseline `python -c pass` the same number of times, interleaved so
that a busy machine slows all of them alike. Prints one JSON object: the median wall-clock
seconds of each, each command's own time (median − the baseline's median) and its ratio to the
baseline, and the same for CPU time (user + system: what the command itself costs, which a
machine busy with other work does not inflate the way it inflates wall-clock time).

It also times the floor the libraries set: `python -c "import sqlalchemy.engine, pydantic,
typer, rich.table"` (``libraries_own_cpu_s``): what any `attain kpi` must pay before it does
anything (it reads the store through SQLAlchemy, validates with pydantic, draws with typer and
rich), and ``kpi_above_floor_cpu_s``, its own CPU beyond that floor.

Target: `attain --help` and `attain kpi` each < 0.5 s of their own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from deal_events import deal_events  # benchmarks/ (the script's folder is on sys.path)

ATTAIN = str(Path(sys.executable).with_name("attain"))


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--deals", type=int, default=1000)
    args = ap.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "ATTAIN_DATABASE_URL"}
    # bytecode caching on, as on a user's machine: any non-empty PYTHONDONTWRITEBYTECODE (even
    # "0") turns it off, and every changed module would then be compiled at each start
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="attain-cli-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'small.db'}"
        events = Path(tmp) / "events.jsonl"
        events.write_text("".join(line + "\n" for line in deal_events(args.deals, 1, "d", seed=3)))
        subprocess.run([ATTAIN, "--db", url, "ingest", str(events), "--quiet"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        commands = {
            "baseline": [sys.executable, "-c", "pass"],
            "help": [ATTAIN, "--help"],
            "kpi": [ATTAIN, "--db", url, "kpi", "--by", "rep", "--format", "json"],
            "libraries": [sys.executable, "-c",
                          "import sqlalchemy.engine, pydantic, typer, rich.table, rich.console"],
        }
        for cmd in commands.values():  # warm the page cache and the bytecode caches
            timed(cmd, env)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, cmd in commands.items():
                times[name].append(timed(cmd, env))
    med = {name: statistics.median(w for w, _ in ts) for name, ts in times.items()}
    cpu = {name: statistics.median(c for _, c in ts) for name, ts in times.items()}
    base, base_cpu = med["baseline"], cpu["baseline"]
    out: dict[str, object] = {"runs": args.runs, "deals": args.deals,
                              "baseline_s": round(base, 3), "baseline_cpu_s": round(base_cpu, 3)}
    for name in ("help", "kpi", "libraries"):
        out[f"{name}_s"] = round(med[name], 3)
        out[f"{name}_own_s"] = round(med[name] - base, 3)
        out[f"{name}_ratio"] = round(med[name] / base, 1)
        out[f"{name}_cpu_s"] = round(cpu[name], 3)
        out[f"{name}_own_cpu_s"] = round(cpu[name] - base_cpu, 3)
    out["kpi_above_floor_cpu_s"] = round(cpu["kpi"] - cpu["libraries"], 3)
    out["load_average"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
