"""The ``incentives`` plugin: a commission engine reps can trust, live and auditable.

* Rule types (flat rate, tiers, accelerators, gates, caps, bonuses, SPIFs, manager overrides,
  clawbacks, draws) are registered through ``attain_register_commission_rules``, the same hook a
  partner uses to add their own (:mod:`attain.plugins.incentives.rules`).
* Plans are YAML/JSON files validated with line numbers (:mod:`.plans`), stored as effective-dated
  versions with append-only assignments, splits and period locks (:mod:`.db`, :mod:`.service`).
* Statements are computed in memory (:mod:`.calc`), rounded half-even to cents per line, and go
  through draft → approved → signed off, with inquiries and adjustments.
* Accruals follow deal events live through ``attain_batch_processed`` (:mod:`.live`).
* ``attain commission …`` commands (:mod:`.cli`). Documentation: docs/incentives.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from attain.core import hookimpl


@hookimpl
def attain_register_commission_rules(register: Callable[..., None]) -> None:
    from .rules import BUILTIN_RULES

    for rule_type in BUILTIN_RULES:
        register(rule_type)


@hookimpl
def attain_register_commands(cli: Any) -> None:
    from .cli import commission_app

    # once, however often the commands are registered (the goals plugin's do the same)
    if not any(g.typer_instance is commission_app for g in cli.registered_groups):
        cli.add_typer(commission_app, name="commission")


@hookimpl
def attain_batch_processed(tenant: str, outcomes: Any, engine: Any) -> None:
    from .live import on_batch_processed

    on_batch_processed(tenant, engine, outcomes)
