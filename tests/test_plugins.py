"""Plugins: isolation of failures, registration errors, loading controls, per-tenant settings."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Any

import pluggy
import pytest
from attain.core import Metric, hookimpl
from attain.core.engine import Engine, Record
from attain.core.models import DealEvent
from attain.core.plugins import Plugins, RegistrationError, get_plugins, reset_plugins
from attain.core.store import Store
from testkit import Cli

CORE_KPIS = ["won_revenue", "won_deals", "lost_deals", "open_deals", "win_rate",
             "avg_deal_size", "avg_cycle_days", "pipeline_value"]
FACT_KPIS = ["calls", "emails", "meetings", "demos", "activities", "leads_created", "mqls",
             "sals", "sqls", "leads_converted", "leads_disqualified", "avg_first_response_hours"]
OWNERS = ["Ann", "Bob", "Cy"]


def deal_events(n: int = 12, tenant: str | None = None) -> list[dict[str, Any]]:
    """``n`` deals, one version each, spread over owners and statuses."""
    out = []
    for i in range(n):
        status = ("won", "lost", "open")[i % 3]
        ev: dict[str, Any] = {
            "type": "deal", "event_id": f"e{i}", "deal_id": f"D{i}", "version": 1,
            "occurred_at": "2017-05-01T12:00:00Z", "owner": OWNERS[i % len(OWNERS)],
            "product": "GTX Pro", "account": "Acme", "stage": status, "status": status,
            "amount": str(Decimal(1000 + 250 * i) / 4) if status != "open" or i % 2 else None,
            "engaged_on": "2017-03-01",
            "closed_on": "2017-04-15" if status != "open" else None,
        }
        if tenant is not None:
            ev["tenant"] = tenant
        out.append(ev)
    return out


def records(events: list[dict[str, Any]]) -> list[Record]:
    return [Record(e, source=f"test:{i}") for i, e in enumerate(events, start=1)]


def fails_on(event_id: str) -> bool:
    return int(event_id.lstrip("e")) % 2 == 1  # e1, e3, e5 …


class Boom:
    """Raises in every event hook for the odd events, and for every rejected input."""

    @hookimpl
    def attain_event_received(self, event: Any, tenant: str) -> None:
        if fails_on(event.event_id):
            raise RuntimeError(f"boom on receiving {event.event_id}")

    @hookimpl
    def attain_event_processed(self, event: Any, tenant: str, outcome: str) -> None:
        if fails_on(event.event_id):
            raise RuntimeError(f"boom after processing {event.event_id}")

    @hookimpl
    def attain_event_rejected(self, tenant: str, reason: str, payload: str, source: str) -> None:
        raise RuntimeError("boom on a rejected input")


class Recorder:
    """Records every hook call it gets."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []
        self.processed: list[tuple[str, str, str]] = []
        self.rejected: list[tuple[str, str]] = []

    @hookimpl
    def attain_event_received(self, event: Any, tenant: str) -> None:
        self.received.append((tenant, event.event_id))

    @hookimpl
    def attain_event_processed(self, event: Any, tenant: str, outcome: str) -> None:
        self.processed.append((tenant, event.event_id, outcome))

    @hookimpl
    def attain_event_rejected(self, tenant: str, reason: str, payload: str, source: str) -> None:
        self.rejected.append((tenant, source))


@pytest.fixture
def hooked(store: Store) -> tuple[Engine, Plugins, Recorder]:
    """An engine whose plugins are the installed ones plus Boom, then Recorder (called in
    registration order, so Recorder runs after Boom has raised)."""
    plugins = Plugins()
    plugins.register(Boom(), "boom")
    recorder = Recorder()
    plugins.register(recorder, "recorder")
    return Engine(store, plugins), plugins, recorder


BAD_LINES = ['{"type": "deal"', '{"type": "spaceship", "event_id": "s1"}']


def test_a_raising_event_hook_does_not_stop_events_or_other_plugins(
        hooked: tuple[Engine, Plugins, Recorder]) -> None:
    engine, plugins, recorder = hooked
    events = deal_events()
    batch = records(events) + [Record(line, source=f"bad:{i}") for i, line in enumerate(BAD_LINES)]
    result = engine.process(batch)
    assert (result.accepted, result.rejected) == (len(events), len(BAD_LINES))
    assert sorted(d.deal_id for d in engine.deals("default")) == sorted(e["deal_id"] for e in events)
    ids = [e["event_id"] for e in events]
    assert recorder.received == [("default", i) for i in ids]
    assert recorder.processed == [("default", i, "accepted") for i in ids]
    assert recorder.rejected == [("default", f"bad:{i}") for i in range(len(BAD_LINES))]
    n_failing = sum(1 for i in ids if fails_on(i))
    assert plugins.errors[("boom", "attain_event_received")] == n_failing
    assert plugins.errors[("boom", "attain_event_processed")] == n_failing
    assert plugins.errors[("boom", "attain_event_rejected")] == len(BAD_LINES)
    assert not any(p == "recorder" for p, _ in plugins.errors)
    assert len(engine.store.deadletters("default")) == len(BAD_LINES)
    (row,) = engine.kpis("default", "all")
    assert row["won_deals"] + row["lost_deals"] + row["open_deals"] == len(events)


def test_event_hook_errors_are_counted_in_the_store(
        hooked: tuple[Engine, Plugins, Recorder]) -> None:
    """attain_plugin_errors_total{plugin,hook} must count lifecycle hook failures too, as the
    hook specifications promise — not only failures of a metric's contribute."""
    engine, plugins, _ = hooked
    events = deal_events()
    batch = records(events) + [Record(line, source="bad") for line in BAD_LINES]
    engine.process(batch)
    counters = engine.store.counters("default")
    n_failing = sum(1 for e in events if fails_on(e["event_id"]))
    for hook, n in (("attain_event_received", n_failing), ("attain_event_processed", n_failing),
                    ("attain_event_rejected", len(BAD_LINES))):
        name = f'attain_plugin_errors_total{{plugin="boom",hook="{hook}"}}'
        assert counters.get(name) == n, f"{name}: {counters.get(name)} (counters: {counters})"
        assert plugins.errors[("boom", hook)] == n
    # `attain stats` shows the same counters.
    stats = {r["name"]: r["value"] for r in Cli(engine.store.url).json("stats", "--format", "json")}
    assert {k: v for k, v in stats.items() if k.startswith("attain_plugin_errors_total")} == {
        k: v for k, v in counters.items() if k.startswith("attain_plugin_errors_total")}
    assert stats['attain_events_total{outcome="rejected"}'] == len(BAD_LINES)


def test_hooks_of_a_plugin_disabled_for_a_tenant_are_not_called(store: Store) -> None:
    plugins = Plugins()
    recorder = Recorder()
    plugins.register(recorder, "recorder")
    store.set_plugin_enabled("quiet", "recorder", False)
    engine = Engine(store, plugins)
    result = engine.process(records(deal_events(3, tenant="quiet") + [
        {**e, "event_id": f"loud-{e['event_id']}"} for e in deal_events(2, tenant="loud")]))
    assert result.accepted == 5
    assert {t for t, _ in recorder.received} == {"loud"}
    assert {t for t, _, _ in recorder.processed} == {"loud"}
    assert len(list(engine.deals("quiet"))) == 3  # the tenant's events are still processed


# -- metrics ---------------------------------------------------------------------------------------


def flaky_contribute(deal: DealEvent) -> dict[str, int]:
    if deal.owner == "Bob":
        raise ValueError("cannot handle Bob's deals")
    return {"won": 1} if deal.status == "won" else {}


class Flaky:
    @hookimpl
    def attain_register_metrics(self, register: Any) -> None:
        register(Metric("flaky_wins", "won deals, except that it fails on Bob's",
                        flaky_contribute, lambda s: s.get("won", Decimal(0)), "count"))


def test_a_raising_metric_leaves_the_other_metrics_unaffected(store: Store,
                                                               sqlite_url: str) -> None:
    events = deal_events(15)
    plugins = Plugins()
    plugins.register(Flaky(), "flaky")
    engine = Engine(store, plugins)
    assert engine.process(records(events)).accepted == len(events)

    reference_store = Store(sqlite_url)
    try:
        reference = Engine(reference_store, Plugins())
        reference.process(records(events))
        for grouping in ("all", "rep", "product", "quarter"):
            got = engine.kpis("default", grouping)
            want = reference.kpis("default", grouping)
            assert [r["key"] for r in got] == [r["key"] for r in want]
            for g, w in zip(got, want, strict=True):
                assert {k: g[k] for k in CORE_KPIS} == {k: w[k] for k in CORE_KPIS}
    finally:
        reference_store.dispose()

    by_rep = {r["key"]: r for r in engine.kpis("default", "rep")}
    for owner in OWNERS:
        mine = [e for e in events if e["owner"] == owner]
        expected = 0 if owner == "Bob" else sum(1 for e in mine if e["status"] == "won")
        assert by_rep[owner]["flaky_wins"] == expected
    n_bob = sum(1 for e in events if e["owner"] == "Bob")
    assert plugins.errors[("flaky", "contribute")] == n_bob
    counters = store.counters("default")
    assert counters['attain_plugin_errors_total{plugin="flaky",hook="contribute"}'] == n_bob


def _metric_plugin(metric_name: str) -> object:
    class P:
        @hookimpl
        def attain_register_metrics(self, register: Any) -> None:
            register(Metric(metric_name, "test metric", lambda d: {"n": 1},
                            lambda s: s.get("n", Decimal(0)), "count"))
    return P()


def test_a_metric_name_registered_twice_names_both_plugins() -> None:
    plugins = Plugins(load_entry_points=False)
    plugins.register(_metric_plugin("deal_count"), "alpha")
    with pytest.raises(RegistrationError) as err:
        plugins.register(_metric_plugin("deal_count"), "beta")
    msg = str(err.value)
    assert "deal_count" in msg and "'alpha'" in msg and "'beta'" in msg


def test_a_metric_clashing_with_a_core_kpi_names_the_core() -> None:
    plugins = Plugins(load_entry_points=False)
    with pytest.raises(RegistrationError) as err:
        plugins.register(_metric_plugin("won_revenue"), "copycat")
    msg = str(err.value)
    assert "won_revenue" in msg and "'core'" in msg and "'copycat'" in msg


def test_a_misspelt_hook_is_refused_at_registration() -> None:
    class Typo:
        @hookimpl
        def attain_regster_metrics(self, register: Any) -> None:
            raise AssertionError("never called")

    plugins = Plugins(load_entry_points=False)
    with pytest.raises(pluggy.PluginValidationError) as err:
        plugins.register(Typo(), "typo")
    assert "attain_regster_metrics" in str(err.value)


def test_a_hook_with_a_wrong_argument_name_is_refused() -> None:
    class WrongArg:
        @hookimpl
        def attain_register_metrics(self, registr: Any) -> None:
            raise AssertionError("never called")

    with pytest.raises(pluggy.PluginValidationError) as err:
        Plugins(load_entry_points=False).register(WrongArg(), "wrongarg")
    assert "registr" in str(err.value)


# -- loading controls --------------------------------------------------------------------------


INSTALLED = sorted({ep.name for ep in metadata.entry_points(group="attain")})


@pytest.fixture
def reload_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Environment changes take effect on the next get_plugins(); the full set is back after."""
    reset_plugins()
    yield monkeypatch
    reset_plugins()


def test_installed_plugins_load_by_default() -> None:
    assert "crm_csv" in INSTALLED
    assert Plugins().names() == sorted(["core", *INSTALLED])


def test_load_plugins_allow_list(reload_plugins: pytest.MonkeyPatch, sqlite_url: str) -> None:
    reload_plugins.setenv("ATTAIN_LOAD_PLUGINS", " crm_csv , no_such_plugin")
    assert get_plugins().names() == ["core", "crm_csv"]
    listed = Cli(sqlite_url).json("plugins", "list", "--format", "json")
    assert [p["name"] for p in listed] == ["core", "crm_csv"]


def test_load_plugins_empty_loads_only_the_core(reload_plugins: pytest.MonkeyPatch,
                                                sqlite_url: str, bundled_dir: Path) -> None:
    reload_plugins.setenv("ATTAIN_LOAD_PLUGINS", "")
    assert get_plugins().names() == ["core"]
    assert sorted(get_plugins().metrics) == sorted(CORE_KPIS + FACT_KPIS)
    result = Cli(sqlite_url)("import", "crm-csv", str(bundled_dir), ok=False)
    assert result.exit_code == 2
    assert result.stderr == "error: no connector named 'crm-csv' (installed: none)\n"


def test_disable_plugins(reload_plugins: pytest.MonkeyPatch) -> None:
    reload_plugins.setenv("ATTAIN_DISABLE_PLUGINS", "crm_csv")
    names = get_plugins().names()
    assert "crm_csv" not in names
    assert names == sorted(["core", *(n for n in INSTALLED if n != "crm_csv")])
    assert "crm-csv" not in get_plugins().connectors


def test_disable_wins_over_the_allow_list(reload_plugins: pytest.MonkeyPatch) -> None:
    reload_plugins.setenv("ATTAIN_LOAD_PLUGINS", "crm_csv,goals")
    reload_plugins.setenv("ATTAIN_DISABLE_PLUGINS", "goals")
    assert get_plugins().names() == ["core", "crm_csv"]


# -- the command line ------------------------------------------------------------------------------


def test_plugins_list_json(cli: Cli) -> None:
    listed = cli.json("plugins", "list", "--format", "json")
    by_name = {p["name"]: p for p in listed}
    assert sorted(by_name) == sorted(["core", *INSTALLED])
    for p in listed:
        assert {"name", "version", "hooks", "enabled"} <= set(p)
        assert isinstance(p["hooks"], list) and p["enabled"] is True
    attain_version = metadata.version("attain")
    assert by_name["core"]["version"] == attain_version
    assert "attain_register_metrics" in by_name["core"]["hooks"]
    assert sorted(by_name["core"]["provides"]["metrics"]) == sorted(CORE_KPIS + FACT_KPIS)
    csv_plugin = by_name["crm_csv"]
    assert csv_plugin["version"] == attain_version
    assert csv_plugin["hooks"] == ["attain_register_connectors"]
    assert csv_plugin["provides"] == {"connectors": ["crm-csv"]}


def test_plugins_disable_and_enable_per_tenant(cli: Cli) -> None:
    def enabled(tenant: str) -> dict[str, bool]:
        return {p["name"]: p["enabled"]
                for p in cli.json("plugins", "list", "--tenant", tenant, "--format", "json")}

    out = cli("plugins", "disable", "crm_csv", "--tenant", "x").stdout
    assert "crm_csv" in out and "disabled" in out and "x" in out
    assert enabled("x")["crm_csv"] is False
    assert all(enabled("y").values())
    assert all(v for k, v in enabled("x").items() if k != "crm_csv")
    out = cli("plugins", "enable", "crm_csv", "--tenant", "x").stdout
    assert "enabled" in out
    assert enabled("x")["crm_csv"] is True


def test_plugins_disable_refuses_unknown_plugins_and_the_core(cli: Cli) -> None:
    result = cli("plugins", "disable", "no_such_plugin", ok=False)
    assert result.exit_code != 0 and "no_such_plugin" in result.output
    result = cli("plugins", "disable", "core", ok=False)
    assert result.exit_code != 0 and "core" in result.output


def test_disabling_a_metric_plugin_hides_its_kpi_for_that_tenant_only(store: Store) -> None:
    def engine() -> Engine:  # a new engine reads the tenants' settings afresh, like each command
        plugins = Plugins()
        plugins.register(_metric_plugin("deal_count"), "counter")
        return Engine(store, plugins)

    for tenant in ("t1", "t2"):
        engine().process(records(deal_events(6, tenant=tenant)))
    store.set_plugin_enabled("t1", "counter", False)
    e = engine()
    (t1,) = e.kpis("t1", "all")
    (t2,) = e.kpis("t2", "all")
    assert "deal_count" not in t1 and t2["deal_count"] == 6
    assert {k: t1[k] for k in CORE_KPIS} == {k: t2[k] for k in CORE_KPIS}
    assert "deal_count" not in [m.name for m in e.metrics("t1")]
    store.set_plugin_enabled("t1", "counter", True)
    (t1,) = engine().kpis("t1", "all")
    assert t1["deal_count"] == 6  # its figures were kept while hidden
