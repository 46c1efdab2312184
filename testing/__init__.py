"""``attain.testing``: the plugin test kit, a pytest plugin (entry point ``pytest11``).

Installed with Attain; in a plugin's tests::

    import pytest
    import my_plugin
    from attain.testing import deal

    @pytest.fixture
    def attain_plugins_under_test():
        return {"my_plugin": my_plugin}          # name -> plugin object (a module or instance)

    def test_my_kpi(attain_engine):
        attain_engine.process_events([deal("D1", status="won", amount="7500")])
        (row,) = attain_engine.kpis("default", "all")
        assert row["my_kpi"] == 1

Fixtures:

* ``attain_plugins_under_test`` — override it: the plugins to load besides the core (default:
  none). ``attain_plugins`` is a fresh :class:`attain.core.Plugins` with exactly those.
* ``attain_store`` — a :class:`attain.core.Store` over a new SQLite file (core and plugin tables
  migrated); ``attain_engine`` — an :class:`Engine` over it with ``attain_plugins``
  (:meth:`KitEngine.process_events` takes event dicts).
* ``attain_cli`` — the ``attain`` command line run in-process over that database
  (:class:`CliRunner`); it uses the installed plugins (your plugin once ``pip install -e .``).

Helpers: the event builders :func:`deal`, :func:`lead`, :func:`activity`, :func:`customer`, and
:func:`assert_order_independent`.

Connectors: :mod:`attain.testing.contract` is the connector contract suite (a base class whose
tests every connector's test class inherits: valid events, idempotent re-sync, resumable,
deletes honoured, secrets never in logs; docs/connectors.md).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

# pytest-xdist starts its workers with COLUMNS=80 and LINES=24 set; rich fixes a console's width
# from COLUMNS when the console is made (when the CLI is first imported, possibly while pytest
# loads the plugins), which would pin every in-process command to 80 columns whatever width a
# test gives it (``cli(..., env={"COLUMNS": "250"})``). A terminal's real width is unaffected.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("COLUMNS", "LINES"):
        os.environ.pop(_var, None)

from attain.core import Engine, Plugins, Record, Result, Store  # noqa: E402

from .builders import activity, customer, deal, lead, reset_ids

__all__ = ["CliRunner", "KitEngine", "activity", "assert_order_independent", "customer", "deal",
           "lead", "load_json", "make_engine", "make_plugins", "reset_ids"]


class KitEngine(Engine):
    """An :class:`Engine` with a shortcut for tests."""

    def process_events(self, events: Iterable[Mapping[str, Any] | str], tenant: str | None = None,
                       batch_size: int | None = None) -> Result:
        """Process event dicts (or JSON lines), in batches of ``batch_size`` (one by default)."""
        records = [Record(e if isinstance(e, str) else dict(e), source=f"test:{i}")
                   for i, e in enumerate(events, start=1)]
        total = Result()
        size = batch_size or max(len(records), 1)
        last = Result()
        for i in range(0, len(records), size):
            last = self.process(records[i:i + size], tenant=tenant)
            total.add(last)
        total.outcomes, total.previous, total.rejections = last.outcomes, last.previous, last.rejections
        return total


def make_plugins(plugins: Mapping[str, object]) -> Plugins:
    """A plugin manager with the core and ``plugins`` (name → plugin object) only."""
    pm = Plugins(load_entry_points=False)
    for name, plugin in plugins.items():
        pm.register(plugin, name)
    return pm


def make_engine(directory: Path, plugins: Plugins) -> KitEngine:
    """A :class:`KitEngine` over a new SQLite database in ``directory`` (its tables, the core's
    and ``plugins``' own, migrated). Dispose of ``engine.store`` when done."""
    url = f"sqlite:///{directory / f'attain-{uuid.uuid4().hex[:12]}.db'}"
    return KitEngine(Store(url, migrations=plugins.migrations.values()), plugins)


def load_json(text: str) -> Any:
    """JSON with exact numbers: decimals as Decimal, integers as int (never float)."""
    return json.loads(text, parse_float=Decimal)


class CliRunner:
    """Runs ``attain --db URL ARGS…`` in-process (typer's runner) and resets the command-line
    state after each call. With ``db_url=None`` no ``--db`` is given (the command picks its
    database itself: ``ATTAIN_DB`` or the data directory).

    ``cli("kpi", "--by", "rep")`` returns the click result and, unless ``ok=False``, asserts the
    command succeeded (showing its output when it did not); ``cli.json(...)`` parses stdout with
    exact numbers.
    """

    def __init__(self, db_url: str | None, app: Any = None) -> None:
        from attain.core.cli import build_app
        from typer.testing import CliRunner as TyperRunner

        self.db_url = db_url
        self.app = app if app is not None else build_app()
        self.runner = TyperRunner()

    def __call__(self, *args: str, input: str | bytes | None = None, ok: bool = True,
                 env: dict[str, str] | None = None) -> Any:
        from attain.core.cli_kit import state

        argv = ["--db", self.db_url, *args] if self.db_url is not None else list(args)
        try:
            result = self.runner.invoke(self.app, argv, input=input, env=env)
        finally:
            state.reset()  # close the command's store (PostgreSQL keeps idle connections)
        if ok:
            assert result.exit_code == 0, (
                f"`attain {' '.join(argv)}` exited {result.exit_code}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}\n"
                f"exception: {result.exception!r}")
        return result

    def json(self, *args: str, **kwargs: Any) -> Any:
        return load_json(self(*args, **kwargs).stdout)


# -- order independence --------------------------------------------------------------------------


def _variants(events: Sequence[Any], seeds: Iterable[int], batch_sizes: Sequence[int],
              redeliver: float) -> Iterator[tuple[str, list[Any], int]]:
    for seed, size in itertools.product(seeds, batch_sizes):
        rng = random.Random(seed)
        stream = list(events) + [e for e in events if rng.random() < redeliver]
        rng.shuffle(stream)
        yield f"seed {seed}, batches of {size}", stream, size


def assert_order_independent(events: Sequence[Mapping[str, Any] | str],
                             read: Callable[[Engine], Any], *,
                             plugins: Plugins | None = None, directory: Path | None = None,
                             seeds: Iterable[int] = (1, 2, 3), batch_sizes: Sequence[int] = (1, 7, 500),
                             redeliver: float = 0.2, tenant: str | None = None) -> Any:
    """Assert that ``read(engine)`` is the same whatever order ``events`` arrive in, however often
    some are redelivered and however the stream is cut into batches.

    The reference is ``read`` after processing ``events`` once, in the given order, in one
    batch; every variant (a shuffle per seed, ``redeliver`` of the events sent twice, for each
    batch size) runs on a fresh SQLite database and must give the same value. Returns the
    reference. ``plugins`` defaults to the core alone; ``directory`` to a temporary folder.
    """
    import tempfile

    pm = plugins or Plugins(load_entry_points=False)
    with tempfile.TemporaryDirectory() as tmp:
        where = directory or Path(tmp)

        def run(stream: Sequence[Any], size: int) -> Any:
            engine = make_engine(where, pm)
            try:
                engine.process_events(stream, tenant=tenant, batch_size=size)
                return read(engine)
            finally:
                engine.store.dispose()

        want = run(list(events), max(len(events), 1))
        for label, stream, size in _variants(events, seeds, batch_sizes, redeliver):
            got = run(stream, size)
            assert got == want, f"{label}: the result depends on arrival order:\n got  {got}\n want {want}"
    return want


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def attain_plugins_under_test() -> Mapping[str, object]:
    """Override in your conftest: ``{"name": plugin_object}`` to load besides the core."""
    return {}


@pytest.fixture
def attain_plugins(attain_plugins_under_test: Mapping[str, object]) -> Plugins:
    return make_plugins(attain_plugins_under_test)


@pytest.fixture
def attain_engine(tmp_path: Path, attain_plugins: Plugins) -> Iterator[KitEngine]:
    engine = make_engine(tmp_path, attain_plugins)
    try:
        yield engine
    finally:
        engine.store.dispose()


@pytest.fixture
def attain_store(attain_engine: KitEngine) -> Store:
    return attain_engine.store


@pytest.fixture
def attain_cli(attain_store: Store) -> CliRunner:
    return CliRunner(attain_store.url)
