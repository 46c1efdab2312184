"""docs/hooks.md is generated from the hook specifications (and is current), every hook is
documented there, and the code examples of docs/hooks.md and docs/plugins.md work (those of
docs/connectors.md compile)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from attain.core import hookdoc

DOCS = Path(__file__).resolve().parents[1] / "docs"
DOC = DOCS / "hooks.md"
GUIDE = DOCS / "plugins.md"
SPEC_MARKER = "attain_spec"  # set by pluggy.HookspecMarker("attain")


def all_specs() -> dict[str, Any]:
    """Every hook specification: the core's and the installed plugins' own."""
    out: dict[str, Any] = {}
    for _, module in hookdoc.hook_modules():
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if hasattr(fn, SPEC_MARKER):
                out[name] = fn
    return out


def hookspec_names() -> set[str]:
    return set(all_specs())


def doc_text(path: Path = DOC) -> str:
    assert path.is_file(), f"{path} is missing"
    return path.read_text(encoding="utf-8")


def test_the_hook_reference_is_generated_and_current() -> None:
    assert doc_text() == hookdoc.render(), "docs/hooks.md is stale: run scripts/hooks-doc"


def documented_hooks() -> list[str]:
    return re.findall(r"^### (attain_\w+)[ \t]*$", doc_text(), flags=re.MULTILINE)


def python_blocks(path: Path = GUIDE) -> list[tuple[int, str]]:
    """(line number, code) of every ```python block."""
    out = []
    text = doc_text(path)
    for m in re.finditer(r"^```python\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL):
        out.append((text.count("\n", 0, m.start()) + 1, m.group(1)))
    return out


def test_hookspecs_are_found() -> None:
    names = hookspec_names()
    assert "attain_register_metrics" in names and "attain_event_processed" in names
    assert all(n.startswith("attain_") for n in names)


def test_every_hook_has_a_section() -> None:
    missing = sorted(hookspec_names() - set(documented_hooks()))
    assert not missing, f"docs/hooks.md has no '### <hook>' section for: {', '.join(missing)}"


def test_every_documented_hook_exists() -> None:
    stale = sorted(set(documented_hooks()) - hookspec_names())
    assert not stale, f"docs/hooks.md documents hooks that no longer exist: {', '.join(stale)}"


def test_each_hook_is_documented_once() -> None:
    seen = documented_hooks()
    assert len(seen) == len(set(seen)), sorted(h for h in seen if seen.count(h) > 1)


def _section(hook: str) -> str:
    text = doc_text()
    start = text.index(f"### {hook}\n")
    nxt = re.search(r"^#{2,3} ", text[start + 4:], flags=re.MULTILINE)
    return text[start:start + 4 + nxt.start()] if nxt else text[start:]


@pytest.mark.parametrize("hook", sorted(hookspec_names()))
def test_hook_section_names_every_parameter_and_the_return_value(hook: str) -> None:
    section = _section(hook)
    params = inspect.signature(all_specs()[hook]).parameters
    for param in params:
        assert f"`{param}`" in section, f"### {hook}: parameter {param!r} is not documented"
    assert "Returns" in section, f"### {hook}: the return value is not documented"
    assert f"def {hook}(" in section, f"### {hook}: no example implementing it"


@pytest.mark.parametrize("path,line,code", [
    pytest.param(p, n, c, id=f"{p.name}:{n}") for p in (GUIDE, DOC, DOCS / "connectors.md")
    for n, c in python_blocks(p)])
def test_python_examples_compile(path: Path, line: int, code: str) -> None:
    compile(code, f"docs/{path.name}:{line}", "exec")


def test_the_testing_examples_run(tmp_path: Path) -> None:
    """The 'Testing your plugin' examples are real tests: run them (needs the example plugin)."""
    import attain_example_kpi
    from attain.testing import make_engine, make_plugins

    kit, plain = [(n, c) for n, c in python_blocks() if "def test_big_deal_count" in c]
    namespace: dict[str, Any] = {}
    exec(compile(kit[1], f"docs/plugins.md:{kit[0]}", "exec"), namespace)
    plugins = make_plugins(namespace["attain_plugins_under_test"].__wrapped__())
    assert plugins.names() == ["big_deals", "core"] and attain_example_kpi
    engine = make_engine(tmp_path, plugins)
    try:
        namespace["test_big_deal_count"](engine)
    finally:
        engine.store.dispose()
    namespace["test_order_independent"](plugins, tmp_path)
    namespace = {}
    exec(compile(plain[1], f"docs/plugins.md:{plain[0]}", "exec"), namespace)
    namespace["test_big_deal_count"](tmp_path)
