"""``attain sync salesforce`` killed with SIGKILL anywhere, then run again (and again), gives
exactly the KPIs of one clean full sync: nothing lost, nothing counted twice. The org is slowed
down so the process is mid-sync when it is killed; the kill points are counted in API calls the
org answered (waiting for them has a deadline, nothing asserts a duration)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from attain.core.engine import Engine
from attain.core.plugins import get_plugins
from attain.core.store import Store
from attain.plugins.crm_salesforce import state

from .fixtures import add_synthetic
from .sfkit import SfCli, attain_subprocess, sf_env, sync_json


def wait_for(what: str, cond: Any, deadline: float = 120) -> None:
    end = time.monotonic() + deadline
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_sigkill_anywhere_then_resume(db_url: str, make_org: Any, cert: Path, small: Any,
                                      tmp_path: Path) -> None:
    records = {k: [dict(r) for r in v] for k, v in small[1].items()}
    add_synthetic(records, [u["Name"] for u in records["User"] if u["ManagerId"]],
                  {u["Name"]: u["Id"] for u in records["User"]})
    clean_org = make_org(records)
    clean = SfCli(f"sqlite:///{tmp_path / 'clean.db'}")
    sync_json(clean, sf_env(clean_org, cert))
    want = clean.all_kpis()

    org = make_org(records, delay=0.05)
    env = sf_env(org, cert, ATTAIN_SALESFORCE_BATCH_SIZE="200")
    killed_at: list[int] = []
    mid_deals = 0  # runs killed after they had read opportunities
    for calls in (3, 13, 16, 19, 22, 25):  # each run first re-reads the org's layout (~11 calls)
        start = len(org.calls)
        proc = attain_subprocess(["--db", db_url, "sync", "salesforce", "-q"], env)
        try:
            wait_for(f"{calls} API calls", lambda s=start, n=calls, p=proc: len(org.calls) - s >= n
                     or p.poll() is not None)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                killed_at.append(len(org.calls) - start)
                mid_deals += any(c.soql and "FROM Opportunity " in c.soql for c in org.calls[start:])
            proc.communicate(timeout=60)
    assert len(killed_at) >= 3 and mid_deals >= 2, killed_at
    store = Store(db_url)
    try:  # the killed runs committed into this database: some opportunities are in
        assert "Opportunity" in state.marks(store.engine, "default")
        assert any(True for _ in Engine(store, get_plugins()).deals("default"))
    finally:
        store.dispose()
    org.delay = 0
    final = SfCli(db_url)
    out = sync_json(final, env)
    assert out["mode"] == "incremental"
    assert out["stopped"] is None and out["engine"]["conflicts"] == 0 and out["engine"]["rejected"] == 0
    assert final.all_kpis() == want
    # and nothing was counted twice on the way: every deal's latest snapshot, every fact once
    stats = final.json("stats", "--format", "json")
    assert {r["name"]: r["value"] for r in stats}.get('attain_events_total{outcome="conflict"}', 0) == 0
