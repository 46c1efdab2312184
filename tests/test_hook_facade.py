"""The plugin facade: typed calls through pluggy's own machinery (hook-call monitoring and
ATTAIN_TRACE_PLUGINS see them), plugin-owned hook specifications, commands registered once, and
what a batch accepted and rejected returned in its Result (no hook needed to learn it)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pluggy
import pytest
from attain.core import Engine, Plugins, Record, Store, hookimpl
from attain.testing import deal

hookspec = pluggy.HookspecMarker("attain")


class Batches:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str], list[str]]] = []

    @hookimpl
    def attain_batch_processed(self, tenant: str, outcomes: Any, previous: Any) -> None:
        self.calls.append((tenant, [o for _, o in outcomes], sorted(previous)))


def test_calls_go_through_pluggy_so_monitoring_sees_each_plugin(store: Store) -> None:
    plugins = Plugins(load_entry_points=False)
    rec = Batches()
    plugins.register(rec, "rec")
    seen: list[tuple[str, list[str]]] = []
    plugins.pm.add_hookcall_monitoring(
        lambda name, impls, kwargs: seen.append((name, [i.plugin_name for i in impls])),
        lambda outcome, name, impls, kwargs: None)
    engine = Engine(store, plugins)
    engine.process([Record(deal("D1", 1, status="won", amount="10"))])
    engine.process([Record(deal("D1", 2, status="lost", amount="10")), Record("{bad")])
    assert ("attain_batch_processed", ["rec"]) in seen
    # the replaced snapshot of D1 is passed to the hook the second time
    assert rec.calls == [("default", ["accepted"], []), ("default", ["accepted"], ["D1"])]


def test_attain_trace_plugins_logs_every_hook_call(store: Store, monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("ATTAIN_TRACE_PLUGINS", "1")
    plugins = Plugins(load_entry_points=False)
    plugins.register(Batches(), "rec")
    with caplog.at_level(logging.INFO, logger="attain.trace"):
        Engine(store, plugins).process([Record(deal("D1", status="won", amount="5"))])
    lines = [r.getMessage() for r in caplog.records if r.name == "attain.trace"]
    assert any(line.startswith("trace: attain_batch_processed plugins=rec ") and line.endswith(" ms")
               for line in lines), lines


def test_the_result_says_what_was_accepted_and_rejected(store: Store) -> None:
    engine = Engine(store, Plugins(load_entry_points=False))
    first = deal("D1", 1, status="open", amount="100")
    engine.process([Record(first)])
    res = engine.process([Record(deal("D1", 2, status="won", amount="100")),
                          Record(deal("D1", 1, status="open", amount="100")),  # stale
                          Record("not json", source="in:3")])
    assert [(ev.deal_id, o) for ev, o in res.outcomes["default"]] == [("D1", "accepted"), ("D1", "stale")]
    assert [ev.version for ev in res.accepted_events()] == [2]
    assert res.previous["default"]["D1"].version == 1
    assert [(r.tenant, r.source, r.payload) for r in res.rejections] == [("default", "in:3", "not json")]
    assert res.rejections[0].reason.startswith("invalid JSON")
    assert {k: v.version for k, v in res.latest_snapshots().items()} == {("default", "D1"): 2}


class PlaybookSpecs:
    @staticmethod
    @hookspec
    def attain_register_playbooks(register):  # type: ignore[no-untyped-def]
        """Register playbooks."""


class PlaybookOwner:
    @hookimpl
    def attain_add_hookspecs(self, pluginmanager: Plugins) -> None:
        pluginmanager.add_hookspecs(PlaybookSpecs, registries={"playbooks": "attain_register_playbooks"})


class Playbook:
    name = "land-and-expand"
    description = "start small"


class PlaybookPlugin:
    @hookimpl
    def attain_register_playbooks(self, register: Any) -> None:
        register(Playbook())


def test_a_plugin_adds_its_own_hooks_and_registry() -> None:
    plugins = Plugins(load_entry_points=False)
    # the implementing plugin may be registered before the plugin that declares the hook
    plugins.pm.register(PlaybookPlugin(), name="partner")
    plugins.register(PlaybookOwner(), "playbooks")
    assert list(plugins.registry("playbooks")) == ["land-and-expand"]
    owner = plugins.owner("playbooks", "land-and-expand")
    assert owner is not None and owner.plugin == "partner"


def test_an_unknown_hook_without_its_owner_is_refused() -> None:
    with pytest.raises(pluggy.PluginValidationError):
        Plugins(load_entry_points=False).register(PlaybookPlugin(), "partner")


def test_the_incentives_plugin_owns_the_commission_rule_hook() -> None:
    from attain.core import hookspecs as core_specs
    from attain.plugins.incentives import hookspecs as incentive_specs

    assert not hasattr(core_specs, "attain_register_commission_rules")
    assert hasattr(incentive_specs, "attain_register_commission_rules")
    plugins = Plugins()
    assert {"accelerator", "cap", "clawback", "draw"} <= set(plugins.registry("commission_rules"))
    owner = plugins.owner("commission_rules", "cap")
    assert owner is not None and owner.plugin == "incentives"


def test_commands_are_registered_once(sqlite_url: str) -> None:
    from attain.core.cli import build_app

    def names(app: Any) -> list[str]:
        return ([c.name or c.callback.__name__ for c in app.registered_commands]
                + [g.name or g.typer_instance.info.name for g in app.registered_groups])

    app = build_app()
    before = names(app)
    build_app()
    after = names(app)
    assert after == before and len(after) == len(set(after))
    assert {"worker", "publish", "goals", "commission"} <= set(after)


def test_the_core_never_imports_the_streams_package() -> None:
    core = Path(__file__).resolve().parents[1] / "core"
    imports = re.compile(r"^\s*(from|import)\s+(attain\.streams|\.\.streams)", re.MULTILINE)
    offenders = [str(p) for p in core.rglob("*.py") if imports.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
