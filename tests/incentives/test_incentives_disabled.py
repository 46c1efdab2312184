"""``attain plugins disable incentives --tenant T``: while disabled, deal events of T write no
accrual (embedded: ``Engine.process`` and ``attain ingest``) and the other tenant's accruals
follow as usual; re-enabled, T's accruals cover every event, those of the disabled time too."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from attain.core.engine import Engine, Record
from attain.core.models import Rep
from attain.core.store import Store
from attain.plugins.incentives.service import Incentives
from testkit import Cli

from .incentives_helpers import deal_event, make_plugins

D = Decimal
ACME, GLOBEX = "acme", "globex"
PLAN = """plan: flat
effective_from: 2017-01-01
period: quarter
payees: all
rules:
  - {id: base, type: flat_rate, rate: 10%}
"""


def event(deal: str, amount: str, closed: str, tenant: str) -> dict[str, Any]:
    return {**deal_event(f"{tenant}-{deal}", 1, "ann", "won", amount, closed), "tenant": tenant}


def accruals(url: str) -> dict[str, dict[tuple[str, str], Decimal]]:
    store = Store(url)
    try:
        engine = Engine(store, make_plugins())
        return {t: {(a["rep"], a["period"]): a["total"] for a in Incentives(engine, t).accruals()}
                for t in (ACME, GLOBEX)}
    finally:
        store.dispose()


@pytest.fixture
def url(store: Store, tmp_path: Path) -> str:
    """Two tenants on one database, each with the same 10 % plan and a one-rep roster."""
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    engine = Engine(store, make_plugins())
    for t in (ACME, GLOBEX):
        engine.save_dimensions(t, reps=[Rep(name="ann", manager="meg")])
        Incentives(engine, t).load_plan(plan)
    return store.url


def test_disabled_incentives_write_no_accruals(url: str, tmp_path: Path) -> None:
    cli = Cli(url)
    assert cli("plugins", "disable", "incentives", "--tenant", ACME).stdout.strip() == \
        "incentives: disabled for tenant acme"

    store = Store(url)
    try:
        engine = Engine(store, make_plugins())
        res = engine.process([Record(event("d1", "1000", "2017-01-10", ACME)),
                              Record(event("d1", "2000", "2017-01-10", GLOBEX))])
        assert (res.accepted, res.rejected) == (2, 0)
    finally:
        store.dispose()
    # 10 % of 2,000 for globex; nothing at all for acme
    assert accruals(url) == {ACME: {}, GLOBEX: {("ann", "2017-Q1"): D("200.00")}}

    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(event("d2", "500", "2017-04-03", ACME)) + "\n"
                      + json.dumps(event("d2", "300", "2017-04-03", GLOBEX)) + "\n")
    assert cli("ingest", str(events)).stdout.strip() == \
        "accepted 2, duplicates 0, stale 0, conflicts 0, rejected 0"
    assert accruals(url) == {ACME: {}, GLOBEX: {("ann", "2017-Q1"): D("200.00"),
                                                 ("ann", "2017-Q2"): D("30.00")}}

    # enabled again: the next acme event brings every acme accrual up to date
    cli("plugins", "enable", "incentives", "--tenant", ACME)
    events.write_text(json.dumps(event("d3", "100", "2017-04-20", ACME)) + "\n")
    cli("ingest", str(events))
    assert accruals(url) == {
        ACME: {("ann", "2017-Q1"): D("100.00"), ("ann", "2017-Q2"): D("60.00")},
        GLOBEX: {("ann", "2017-Q1"): D("200.00"), ("ann", "2017-Q2"): D("30.00")}}


def test_a_long_running_engine_catches_up_after_re_enabling(url: str,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    """One engine for the whole time (a worker, or `attain ingest -` on a live pipe): the events
    of the disabled time are in the accruals once the plugin is enabled again."""
    from attain.core import engine as engine_module

    monkeypatch.setattr(engine_module, "SETTINGS_TTL_S", 0.0)  # see settings changes at once
    store = Store(url)
    try:
        engine = Engine(store, make_plugins())
        engine.process([Record(event("d1", "1000", "2017-01-10", ACME))])
        assert accruals(url)[ACME] == {("ann", "2017-Q1"): D("100.00")}
        store.set_plugin_enabled(ACME, "incentives", False)
        engine.process([Record(event("d2", "2000", "2017-01-11", ACME))])
        assert accruals(url)[ACME] == {("ann", "2017-Q1"): D("100.00")}  # not followed
        store.set_plugin_enabled(ACME, "incentives", True)
        engine.process([Record(event("d3", "500", "2017-01-12", ACME))])
        # 10 % of 1,000 + 2,000 + 500
        assert accruals(url)[ACME] == {("ann", "2017-Q1"): D("350.00")}
    finally:
        store.dispose()


def test_events_processed_by_another_process_are_not_lost(url: str) -> None:
    """Two engines on one database (two processes): each one's accruals include the other's
    events."""
    first, second = Store(url), Store(url)
    try:
        a, b = Engine(first, make_plugins()), Engine(second, make_plugins())
        a.process([Record(event("d1", "1000", "2017-01-10", GLOBEX))])
        b.process([Record(event("d2", "2000", "2017-01-11", GLOBEX))])
        assert accruals(url)[GLOBEX] == {("ann", "2017-Q1"): D("300.00")}
        a.process([Record(event("d3", "500", "2017-01-12", GLOBEX))])
        assert accruals(url)[GLOBEX] == {("ann", "2017-Q1"): D("350.00")}
        # a duplicate counts as processed too: the same figures
        a.process([Record(event("d3", "500", "2017-01-12", GLOBEX))])
        assert accruals(url)[GLOBEX] == {("ann", "2017-Q1"): D("350.00")}
    finally:
        first.dispose()
        second.dispose()
