"""The streams package is a plugin like a partner's: entry point ``streams`` of the ``attain``
group; without it (or without Faust) the core still works and says what to install."""

from __future__ import annotations

import sys
from importlib import metadata

import pytest
from attain.core.plugins import get_plugins, reset_plugins
from testkit import Cli


def test_streams_is_registered_through_the_attain_entry_point() -> None:
    eps = {ep.name: ep.value for ep in metadata.entry_points(group="attain")}
    assert eps["streams"] == "attain.streams.plugin"
    info = {p["name"]: p["hooks"] for p in get_plugins().info()}
    assert info["streams"] == ["attain_follow_kpis", "attain_register_commands"]


def test_worker_without_faust_names_the_extra(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faust", None)  # as if faust-streaming were not installed
    monkeypatch.delitem(sys.modules, "attain.streams.worker", raising=False)
    result = Cli(sqlite_url)("worker", ok=False)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the worker needs Faust: pip install 'attain[streams]'")


def test_kpi_follow_without_the_streams_plugin_names_the_extra(sqlite_url: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTAIN_DISABLE_PLUGINS", "streams")
    reset_plugins()
    try:
        assert "streams" not in get_plugins().names()
        result = Cli(sqlite_url)("kpi", "--follow", ok=False)
        assert result.exit_code == 2
        assert result.stderr == ("error: kpi --follow needs the streams plugin: "
                                 "pip install 'attain[streams]'\n")
        # the rest of the core works without it
        assert Cli(sqlite_url).json("kpi", "--by", "rep", "--format", "json") == []
    finally:
        monkeypatch.delenv("ATTAIN_DISABLE_PLUGINS")
        reset_plugins()
