"""The ``goals`` plugin: SMART goals, cascades, pacing, at-risk alerts and quota planning.

Hooks implemented (see docs/goals.md):

* ``attain_add_hookspecs`` — adds the plugin's own ``attain_register_goal_types`` (:mod:`.hookspecs`);
* ``attain_register_goal_types`` — the ``outcome`` (closed_on) and ``activity`` (engaged_on)
  goal types;
* ``attain_register_migrations`` — the plugin's tables (``migrations/``);
* ``attain_register_commands`` — ``attain goals …`` and ``attain plan quotas``;
* ``attain_batch_processed`` — live re-evaluation (once per batch) of the goals whose owner
  matches an accepted deal, lead or activity event, notifying transitions into at_risk /
  off_track;
* ``attain_notify`` — the webhook notifier (``ATTAIN_GOALS_WEBHOOK_URL`` or the ``webhook_urls``
  setting) for ``goal.*`` notifications.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from attain.core import Engine, Migrations, Plugins, hookimpl
from attain.core.models import AnyEvent

from . import hookspecs, live
from .model import ACTIVITY, OUTCOME, Goal, GoalError, GoalType
from .service import GoalService

__all__ = ["ACTIVITY", "OUTCOME", "Goal", "GoalError", "GoalService", "GoalType"]


@hookimpl
def attain_add_hookspecs(pluginmanager: Plugins) -> None:
    pluginmanager.add_hookspecs(hookspecs, registries={hookspecs.KIND: "attain_register_goal_types"})


@hookimpl
def attain_register_goal_types(register: Callable[[GoalType], None]) -> None:
    register(OUTCOME)
    register(ACTIVITY)


@hookimpl
def attain_register_migrations(register: Callable[[Migrations], None]) -> None:
    register(Migrations("goals", Path(__file__).parent / "migrations", "goals, statuses, settings"))


@hookimpl
def attain_register_commands(cli: typer.Typer) -> None:
    from .cli import register

    register(cli)


@hookimpl
def attain_batch_processed(tenant: str, outcomes: list[tuple[AnyEvent, str]], engine: Engine) -> None:
    live.on_batch(tenant, outcomes, engine)


@hookimpl
def attain_notify(tenant: str, kind: str, payload: dict[str, Any], engine: Engine | None) -> None:
    if not kind.startswith("goal."):
        return
    from .notify import send

    send(tenant, kind, payload, engine=engine)
