"""Plugins (the bundled ones, the streams plugin and the example partner plugin) use only the
core's public API: names exported by ``attain.core`` or by one of its public modules, never a
name starting with an underscore, never ``attain.core.cli``."""

from __future__ import annotations

import ast
from pathlib import Path

import attain.core
import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_DIRS = [ROOT / "plugins", ROOT / "streams", ROOT / "examples"]
#: the public modules of the core a plugin may import (besides attain.core itself)
PUBLIC_MODULES = {"attain.core", "attain.core.models", "attain.core.output", "attain.core.cli_kit",
                  "attain.core.store", "attain.core.periods", "attain.core.kpi",
                  "attain.core.connectors", "attain.core.rollups", "attain.core.fx"}


def violations(source: str, filename: str = "<plugin>") -> list[str]:
    """Every import of ``source`` that reaches into the core's internals."""
    out = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("attain.core") and alias.name not in PUBLIC_MODULES:
                    out.append(f"{filename}:{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("attain."):
            mod = node.module
            private = [a.name for a in node.names if a.name.startswith("_")]
            if private:
                out.append(f"{filename}:{node.lineno}: from {mod} import {', '.join(private)}")
            if any(part.startswith("_") for part in mod.split(".")):
                out.append(f"{filename}:{node.lineno}: from {mod} (a private module)")
            if mod.startswith("attain.core") and mod not in PUBLIC_MODULES:
                out.append(f"{filename}:{node.lineno}: from {mod} (not a public module of the core)")
            if mod == "attain.core":
                unknown = [a.name for a in node.names if a.name not in attain.core.__all__
                           and f"attain.core.{a.name}" not in PUBLIC_MODULES]
                if unknown:
                    out.append(f"{filename}:{node.lineno}: attain.core does not export "
                               f"{', '.join(unknown)}")
    return out


def plugin_files() -> list[Path]:
    return sorted(p for d in PLUGIN_DIRS for p in d.rglob("*.py") if ".egg-info" not in str(p))


def test_the_plugins_are_found() -> None:
    names = {p.relative_to(ROOT).parts[0] for p in plugin_files()}
    assert names == {"plugins", "streams", "examples"}
    assert any(p.name == "service.py" and p.parent.name == "goals" for p in plugin_files())


@pytest.mark.parametrize("path", plugin_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_plugin_imports_only_public_core_names(path: Path) -> None:
    assert violations(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT))) == []


@pytest.mark.parametrize("source", [
    "from attain.core.cli import State",
    "import attain.core.cli",
    "from attain.core.engine import Engine",
    "from attain.core.store import _Raw",
    "from attain.core import _CorePlugin",
    "from attain.core import EventRow",
    "from attain.plugins.goals._private import x",
])
def test_the_check_catches_internal_imports(source: str) -> None:
    assert len(violations(source)) >= 1


def test_everything_attain_core_exports_exists() -> None:
    missing = [n for n in attain.core.__all__ if not hasattr(attain.core, n)]
    assert missing == []
