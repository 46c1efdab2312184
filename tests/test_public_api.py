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


def _owner(filename: str) -> str | None:
    """The bundled plugin a file belongs to (``plugins/<name>/…``), if any."""
    parts = Path(filename).parts
    return parts[1] if len(parts) > 2 and parts[0] == "plugins" else None


def _plugin_all(name: str) -> list[str] | None:
    """A bundled plugin's public API: its package's ``__all__`` (None: no such plugin)."""
    init = ROOT / "plugins" / name / "__init__.py"
    if not init.exists():
        return None
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__"
                                                for t in node.targets):
            return [str(ast.literal_eval(node.value))] if isinstance(node.value, ast.Constant) \
                else list(ast.literal_eval(node.value))
    return []


def violations(source: str, filename: str = "<plugin>") -> list[str]:
    """Every import of ``source`` that reaches into the core's internals, or into another
    plugin's: a plugin may import another only through that plugin's package and the names of
    its ``__all__`` (its documented public API)."""
    out = []
    owner = _owner(filename)
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
            if mod.startswith("attain.plugins."):
                other = mod.split(".")[2]
                if other != owner:
                    if mod != f"attain.plugins.{other}":
                        out.append(f"{filename}:{node.lineno}: from {mod} (another plugin's "
                                   f"internal module; import from attain.plugins.{other})")
                    else:
                        public = _plugin_all(other)
                        hidden = [a.name for a in node.names if public is not None and a.name not in public]
                        if hidden:
                            out.append(f"{filename}:{node.lineno}: attain.plugins.{other} does not "
                                       f"export {', '.join(hidden)}")
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
    "from attain.plugins.goals.service import GoalService",
    "from attain.plugins.incentives import IncentiveCalculatorInternals",
])
def test_the_check_catches_internal_imports(source: str) -> None:
    assert len(violations(source)) >= 1


def test_everything_attain_core_exports_exists() -> None:
    missing = [n for n in attain.core.__all__ if not hasattr(attain.core, n)]
    assert missing == []
