"""The ``incentives`` plugin: a commission engine reps can trust, live and auditable.

* Rule types (flat rate, tiers, accelerators, gates, caps, bonuses, SPIFs, manager overrides,
  clawbacks, draws) are registered through ``attain_register_commission_rules``, the same hook a
  partner uses to add their own (:mod:`attain.plugins.incentives.rules`).
* Plans are YAML/JSON files validated with line numbers (:mod:`.plans`), stored as effective-dated
  versions with append-only assignments, splits and period locks (:mod:`.db`, :mod:`.service`).
* Statements are computed in memory (:mod:`.calc`), rounded half-even to cents per line, and go
  through draft → approved → signed off, with inquiries and adjustments.
* Accruals follow deal events live through ``attain_batch_processed`` (:mod:`.live`).
* Its tables are migrated with the store's (``migrations/``, ``attain_register_migrations``);
  its own hook, ``attain_register_commission_rules``, is in :mod:`.hookspecs`.
* ``attain commission …`` commands (:mod:`.cli`). Documentation: docs/incentives.md.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attain.core import hookimpl

from . import hookspecs

if TYPE_CHECKING:  # what the hooks need is imported when they run: loading the plugin is cheap
    import typer
    from attain.core import Engine, Migrations, Plugins
    from attain.core.models import AnyEvent, DealEvent

    from .calc import Calculator
    from .inputs import IncentivesError
    from .model import Assignment, DealFact
    from .plans import PlanError, load_plan_file
    from .service import Incentives

#: The plugin's public API, for other plugins and partners (``from attain.plugins.incentives
#: import Incentives``): everything else in the package is internal.
__all__ = ["Assignment", "Calculator", "DealFact", "Incentives", "IncentivesError", "PlanError",
           "load_plan_file"]
_PUBLIC = {"Assignment": "model", "Calculator": "calc", "DealFact": "model",
           "Incentives": "service", "IncentivesError": "inputs", "PlanError": "plans",
           "load_plan_file": "plans"}


def __getattr__(name: str) -> Any:  # the public names, imported on first use
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)


#: the command ``cli.register`` adds, with its help (imported only when it runs)
COMMANDS = {"commission": "Commissions: plans, statements, explanations, approvals, what-if and "
                          "live accruals."}


@hookimpl
def attain_add_hookspecs(pluginmanager: Plugins) -> None:
    pluginmanager.add_hookspecs(hookspecs, registries={hookspecs.KIND: "attain_register_commission_rules"})


@hookimpl
def attain_register_migrations(register: Callable[[Migrations], None]) -> None:
    from attain.core import Migrations

    register(Migrations("incentives", Path(__file__).parent / "migrations",
                        "plans, assignments, statements, accruals, audit"))


@hookimpl
def attain_register_commission_rules(register: Callable[[Any], None]) -> None:
    from .rules import BUILTIN_RULES

    for rule_type in BUILTIN_RULES:
        register(rule_type)


@hookimpl
def attain_register_commands(cli: typer.Typer) -> None:
    from attain.core.cli_kit import lazy_commands

    lazy_commands(cli, "attain.plugins.incentives.cli:register", COMMANDS)


@hookimpl
def attain_batch_processed(tenant: str, outcomes: list[tuple[AnyEvent, str]], engine: Engine,
                           previous: dict[str, DealEvent]) -> None:
    from .live import on_batch_processed

    on_batch_processed(tenant, engine, outcomes)
