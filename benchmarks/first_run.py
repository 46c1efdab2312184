"""The first run from a fresh clone: how long `scripts/demo` takes before the leaderboard, and how
much of it is installing.

Clones this checkout (its committed HEAD) into a temporary folder and times, in the same run:

* ``baseline_pip_install_s``: what the bootstrap did before the lock, ``python -m venv .venv``
  then ``pip install -e .`` (resolving the unpinned ranges; pip's cache is warm after the
  first run of this script);
* ``install_s``: ``scripts/bootstrap`` (uv installing exactly the versions of ``uv.lock``; uv's
  cache is warm after the first run);
* ``demo_s``: ``attain demo`` itself (the import and the KPIs), and ``first_run_s`` the whole
  ``scripts/demo`` in a second fresh clone (install + demo), with ``warnings``: the lines it
  printed on standard error that are not the demo's own (a normal install prints none).

Prints one JSON line; ``ratio`` = install_s ÷ baseline_pip_install_s. Run: ``python
benchmarks/first_run.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return elapsed, proc


def clone(into: Path) -> Path:
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(into)], check=True)
    return into


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        env = {**os.environ, "XDG_DATA_HOME": str(base / "data"), "COLUMNS": "300"}  # (no wrapped lines)
        env.pop("VIRTUAL_ENV", None)
        a = clone(base / "a")
        pip_venv, _ = timed([sys.executable, "-m", "venv", ".venv"], a, env)
        pip_install, _ = timed([".venv/bin/python", "-m", "pip", "install", "-q", "-e", "."], a, env)
        b = clone(base / "b")
        install, _ = timed(["scripts/bootstrap"], b, env)
        demo, _ = timed([".venv/bin/attain", "demo"], b, env)
        c = clone(base / "c")
        first, proc = timed(["scripts/demo"], c, env)
        own = ("imported", "Importing", "━")  # the demo's own progress and summary lines
        warnings = [line for line in proc.stderr.splitlines()
                    if line.strip() and not any(line.lstrip().startswith(o) for o in own)]
    print(json.dumps({
        "baseline_pip_install_s": round(pip_venv + pip_install, 2),
        "install_s": round(install, 2),
        "ratio": round(install / (pip_venv + pip_install), 3),
        "demo_s": round(demo, 2),
        "first_run_s": round(first, 2),
        "warnings": warnings,
    }))


if __name__ == "__main__":
    main()
