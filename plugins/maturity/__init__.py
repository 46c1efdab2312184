"""The ``maturity`` plugin: a five-level sales & marketing maturity assessment, measured from the
tenant's data and answered in a questionnaire (docs/maturity.md).

Hooks implemented:

* ``attain_add_hookspecs`` — adds the plugin's own ``attain_register_maturity_criteria`` and
  ``attain_register_maturity_models`` (:mod:`.hookspecs`);
* ``attain_register_maturity_criteria`` — the bundled criteria (:mod:`.criteria`), registered
  exactly as a partner's are;
* ``attain_register_migrations`` — the plugin's tables (answers, assessments: ``migrations/``);
* ``attain_register_commands`` — ``attain maturity questionnaire|questions|assess|history``.

The protocol a partner implements: :class:`Criterion` (or an object with its attributes),
:class:`Measurement`, :class:`TenantData` (what ``measure(data)`` receives),
:class:`MaturityModel` and :class:`Level`; :class:`Maturity` runs assessments.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attain.core import hookimpl

from . import hookspecs

if TYPE_CHECKING:  # the public names are imported on first use (`attain --help` needs none)
    import typer
    from attain.core import Migrations, Plugins

    from .data import TenantData
    from .model import LEVELS, STANDARD, Criterion, Level, MaturityError, MaturityModel, Measurement
    from .service import Maturity

__all__ = ["LEVELS", "STANDARD", "Criterion", "Level", "Maturity", "MaturityError", "MaturityModel",
           "Measurement", "TenantData"]
_WHERE = {**{n: "model" for n in __all__}, "TenantData": "data", "Maturity": "service"}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


@hookimpl
def attain_add_hookspecs(pluginmanager: Plugins) -> None:
    pluginmanager.add_hookspecs(hookspecs, registries={
        hookspecs.KIND: "attain_register_maturity_criteria",
        hookspecs.MODELS: "attain_register_maturity_models"})


@hookimpl
def attain_register_maturity_criteria(register: Callable[[Any], None]) -> None:
    from .criteria import BUILTIN

    for criterion in BUILTIN:
        register(criterion)


@hookimpl
def attain_register_migrations(register: Callable[[Migrations], None]) -> None:
    from attain.core import Migrations

    register(Migrations("maturity", Path(__file__).parent / "migrations", "answers, assessments"))


@hookimpl
def attain_register_commands(cli: typer.Typer) -> None:
    from attain.core.cli_kit import lazy_commands

    lazy_commands(cli, "attain.plugins.maturity.cli:register",
                  {"maturity": "The five-level sales & marketing maturity assessment."})
