"""A running worker follows `attain plugins disable|enable NAME --tenant T`: the engine re-reads a
tenant's settings every SETTINGS_TTL_S seconds, so the KPI rows it publishes for events that
arrive after that drop (or bring back) the plugin's metric for that tenant only."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import pytest
from attain.core.engine import SETTINGS_TTL_S
from attain.core.plugins import get_plugins
from attain.core.store import Store

from .streamkit import StreamEnv, outcomes, read_topic, write_lines

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.timeout(300),
    pytest.mark.filterwarnings("ignore:read_text is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:open_text is deprecated:DeprecationWarning"),
]

PLUGIN, METRIC = "big_deals", "big_deal_count"  # the example plugin: won deals of 5,000 or more


def won(tenant: str, owner: str, eid: str, amount: str) -> bytes:
    return json.dumps({"type": "deal", "tenant": tenant, "event_id": eid, "deal_id": eid, "version": 1,
                       "occurred_at": "2017-03-01T10:00:00Z", "owner": owner, "stage": "Won",
                       "status": "won", "amount": amount, "closed_on": "2017-03-01"}).encode()


def rep_rows(stream: StreamEnv, tenant: str, rep: str) -> list[dict[str, Any]]:
    """Every row of ``rep`` the worker published for ``tenant`` grouped by rep, in order."""
    out = []
    for m in read_topic(stream.bootstrap, stream.prefix + "attain.kpi-updates", idle=1):
        upd = json.loads(m.value, parse_float=Decimal)
        if (upd["tenant"], upd["grouping"]) == (tenant, "rep"):
            out += [r for r in upd["rows"] if r["key"] == rep]
    return out


def test_a_running_worker_follows_a_plugin_disabled_for_one_tenant(stream: StreamEnv) -> None:
    if METRIC not in get_plugins().metrics:
        pytest.fail("the example plugin is not installed: pip install -e examples/attain-example-kpi",
                    pytrace=False)
    url = stream.db()
    Store(url).dispose()
    worker = stream.start_worker(url)

    def publish(step: int, lines: list[bytes]) -> None:
        stream.attain(["publish", str(write_lines(stream.tmp / f"step{step}.jsonl", lines))])

    def revenues(tenant: str, rep: str) -> dict[Decimal, list[Any]]:
        """won_revenue -> the plugin metric of every row published with that revenue."""
        out: dict[Decimal, list[Any]] = {}
        for r in rep_rows(stream, tenant, rep):
            out.setdefault(r["won_revenue"], []).append(r.get(METRIC, "no column"))
        return out

    # Step 1, both tenants: a big deal (6,000) and a small one (100) each.
    publish(1, [won("t1", "Ann", "a1", "6000"), won("t1", "Ann", "a2", "100"),
                won("t2", "Tom", "b1", "6000"), won("t2", "Tom", "b2", "100")])
    stream.wait("step 1 published", lambda: 6100 in revenues("t1", "Ann") and 6100 in revenues("t2", "Tom"))
    assert revenues("t1", "Ann")[Decimal(6100)][-1] == 1

    stream.attain(["--db", url, "plugins", "disable", PLUGIN, "--tenant", "t1"])
    time.sleep(SETTINGS_TTL_S + 2)  # past the worker's settings cache
    # Step 2: another big deal each (13,100 and 14,100 in total).
    publish(2, [won("t1", "Ann", "a3", "7000"), won("t2", "Tom", "b3", "8000")])
    stream.wait("step 2 published", lambda: 13100 in revenues("t1", "Ann") and 14100 in revenues("t2", "Tom"))
    assert set(revenues("t1", "Ann")[Decimal(13100)]) == {"no column"}  # t1: the column is gone
    assert set(revenues("t2", "Tom")[Decimal(14100)]) == {2}  # t2 still has it: 6,000 and 8,000

    stream.attain(["--db", url, "plugins", "enable", PLUGIN, "--tenant", "t1"])
    time.sleep(SETTINGS_TTL_S + 2)
    # Step 3: back on, counting every big deal, the one that arrived while it was off included.
    publish(3, [won("t1", "Ann", "a4", "5000")])
    stream.wait("step 3 published", lambda: 18100 in revenues("t1", "Ann"))
    assert set(revenues("t1", "Ann")[Decimal(18100)]) == {3}
    stream.wait("every event processed", lambda: (outcomes(url, "t1"), outcomes(url, "t2")) == (4, 3))
    assert worker.stop() == 0
