"""Plugins' commands are imported only when they run (``attain --help`` stays fast), and the
placeholders ``attain --help`` lists say what the real commands say."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer
from attain.core.lazy_cli import LazyCommand

# Modules `attain --help` must not import: every plugin's command module and the heavy libraries
# only some commands need.
NOT_FOR_HELP = [
    "attain.plugins.goals.cli", "attain.plugins.incentives.cli", "attain.plugins.crm_salesforce.cli",
    "attain.streams.cli", "faust", "aiokafka", "kafka", "simple_salesforce", "alembic", "yaml",
    "rich.progress", "sqlalchemy", "attain.core.engine",
]
# ... and `attain kpi` (which needs the store, SQLAlchemy and the KPI models) must not import these.
NOT_FOR_KPI = NOT_FOR_HELP[:-2]
NOT_FOR_KPI.remove("alembic")  # the store checks its schema version with Alembic when it opens
# ... and on a database already at every head (every command but the first), not these either:
# the schema is checked without Alembic, and the core's tables are SQLAlchemy Core tables read
# with Core statements (the plugins' migrations, which import their ORM tables, do not run)
NOT_FOR_KPI_CURRENT = [*NOT_FOR_KPI, "alembic", "sqlalchemy.orm"]

PROBE = r"""
import json, sys
from attain.core.cli import main
sys.argv = ["attain", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit:
    pass
sys.stdout.flush()
sys.stderr.write("\nMODULES " + json.dumps(sorted(sys.modules)) + "\n")
"""


def imported_by(*args: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(list(args))],
                          capture_output=True, text=True, timeout=120)
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("MODULES "))
    return set(json.loads(line.removeprefix("MODULES ")))


def heavy(modules: set[str], names: list[str]) -> list[str]:
    return sorted(n for n in names if n in modules or any(m.startswith(n + ".") for m in modules))


def test_help_imports_no_command_module_and_no_heavy_library() -> None:
    assert heavy(imported_by("--help"), NOT_FOR_HELP) == []


def test_kpi_imports_only_what_it_uses(tmp_path: pytest.TempPathFactory) -> None:
    url = f"sqlite:///{tmp_path}/k.db"
    modules = imported_by("--db", url, "kpi", "--format", "json")
    assert "attain.core.engine" in modules  # it did run
    assert heavy(modules, NOT_FOR_KPI) == []


def test_kpi_on_a_current_database_imports_neither_alembic_nor_the_orm(tmp_path: pytest.TempPathFactory) -> None:
    from attain.core.store import Store

    url = f"sqlite:///{tmp_path}/k.db"
    Store(url).dispose()
    modules = imported_by("--db", url, "kpi", "--by", "rep", "--format", "json")
    assert "attain.core.engine" in modules  # it did run
    assert heavy(modules, NOT_FOR_KPI_CURRENT) == []


def placeholders() -> dict[str, LazyCommand]:
    from attain.core.cli import app, build_app

    build_app()
    group = typer.main.get_group(app)
    return {name: cmd for name, cmd in group.commands.items() if isinstance(cmd, LazyCommand)}


def test_the_bundled_plugins_commands_are_lazy() -> None:
    assert set(placeholders()) >= {"goals", "plan", "commission", "sync", "worker", "publish"}


def test_each_placeholder_has_the_help_of_its_command_and_loads_it() -> None:
    for name, lazy in placeholders().items():
        real = lazy.load()
        assert not isinstance(real, LazyCommand)
        assert real.name == name
        first = (real.help or "").split("\n\n")[0]
        assert " ".join((lazy.help or "").split()) == " ".join(first.split()), name


def test_a_lazy_command_runs_through_the_root_group(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("commission", "--help")
    assert "plan" in result.stdout  # the real group's sub-commands


def test_the_light_constants_equal_the_modules_they_stand_for() -> None:
    from attain.core import cli as cli_module
    from attain.core import cli_kit
    from attain.core.kpi import GROUPINGS
    from attain.core.store import DEFAULT_TENANT

    assert cli_kit.DEFAULT_TENANT == DEFAULT_TENANT
    assert cli_module.GROUPING_NAMES == tuple(GROUPINGS)


def test_a_start_up_block_pauses_the_collector_and_restores_it() -> None:
    import gc

    from attain.core import cli_kit

    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    with cli_kit.start_up():
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen  # only main(), the command's own process, freezes
    with pytest.raises(ValueError), cli_kit.start_up():
        raise ValueError
    assert gc.isenabled()
    gc.disable()
    try:
        with cli_kit.start_up():
            pass
        assert not gc.isenabled()  # restored as it was
    finally:
        gc.enable()


def test_the_command_process_freezes_its_start_up_objects(tmp_path: pytest.TempPathFactory) -> None:
    url = f"sqlite:///{tmp_path}/k.db"
    probe = ("import gc, sys; from attain.core.cli import main; sys.argv = ['attain', '--db', sys.argv[1], "
             "'kpi', '--format', 'json']\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
             "sys.stderr.write(f'\\nGC {gc.isenabled()} {gc.get_freeze_count() > 10000}\\n')")
    proc = subprocess.run([sys.executable, "-c", probe, url], capture_output=True, text=True, timeout=120)
    assert json.loads(proc.stdout) == []
    assert proc.stderr.splitlines()[-1] == "GC True True"
