"""Fixtures of the maturity plugin's tests: the bundled data imported once per backend into a
template (copied per test), a seeded full tenant, a partner plugin registered in the process-wide
plugin manager, and a CLI runner."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from attain.core.engine import Engine
from attain.core.plugins import get_plugins
from attain.core.store import Store
from backend_data import BundledTemplates, backend, bundled_templates
from testkit import Cli

from maturity import partner

__all__ = ["backend", "bundled_templates"]  # fixtures of backend_data, found here by pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "attain-example-maturity"
#: the example package's entry-point name (examples/attain-example-maturity/pyproject.toml)
EXAMPLE_NAME = "maturity_example"


def example_plugin() -> object:
    """The example partner package (importable from its folder when it is not installed)."""
    if str(EXAMPLE) not in sys.path:
        sys.path.append(str(EXAMPLE))
    return importlib.import_module("attain_example_maturity")


@pytest.fixture
def bundled_url(backend: str, bundled_templates: BundledTemplates, tmp_path: Path) -> Iterator[str]:
    """A database of this test's own holding the bundled CRM data (`attain import crm-csv`)."""
    with bundled_templates.copy(backend, "maturity", get_plugins, tmp_path) as url:
        yield url


@pytest.fixture
def partner_plugin() -> Iterator[object]:
    """The example partner criterion package and a partner commission rule type, registered in
    the process-wide manager (the CLI's) for one test (the example as its entry point would, if
    it is not installed already)."""
    pm = get_plugins()
    added = ["partner"]
    pm.register(partner, "partner")
    if EXAMPLE_NAME not in pm.names():
        pm.register(example_plugin(), EXAMPLE_NAME)
        added.append(EXAMPLE_NAME)
    try:
        yield partner
    finally:
        for name in added:
            pm.unregister(name)


@pytest.fixture
def open_engine() -> Iterator[list[Engine]]:
    """Engines a test opens, disposed of afterwards."""
    opened: list[Engine] = []
    yield opened
    for e in opened:
        e.store.dispose()


def engine_on(url: str, opened: list[Engine]) -> Engine:
    e = Engine(Store(url), get_plugins())
    opened.append(e)
    return e


@pytest.fixture
def mcli_factory() -> type[Cli]:
    return Cli
