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
  setting) for the ``goal.*`` alerts (``goal.at_risk``, ``goal.off_track``; not the live feed's
  ``goal.status_changed``, sent for every status change).
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
    from attain.core.models import AnyEvent

    from .cascade import rep_capacity
    from .model import ACTIVITY, OUTCOME, Goal, GoalError, GoalType
    from .service import GoalService

#: The plugin's public API, for other plugins and partners; everything else is internal.
__all__ = ["ACTIVITY", "OUTCOME", "Goal", "GoalError", "GoalService", "GoalType", "rep_capacity"]

#: the commands ``cli.register`` adds, with their help (imported only when one of them runs)
COMMANDS = {"goals": "SMART goals and quotas: define, cascade, track pace and status."}
PLAN_COMMANDS = {"plan": "Planning: propose rep and team quotas for a year."}


def __getattr__(name: str) -> Any:  # the public names, imported on first use
    if name == "GoalService":
        from .service import GoalService

        return GoalService
    if name == "rep_capacity":
        from .cascade import rep_capacity

        return rep_capacity
    if name in __all__:
        from . import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@hookimpl
def attain_add_hookspecs(pluginmanager: Plugins) -> None:
    pluginmanager.add_hookspecs(hookspecs, registries={hookspecs.KIND: "attain_register_goal_types"})


@hookimpl
def attain_register_goal_types(register: Callable[[GoalType], None]) -> None:
    from .model import ACTIVITY, OUTCOME

    register(OUTCOME)
    register(ACTIVITY)


@hookimpl
def attain_register_migrations(register: Callable[[Migrations], None]) -> None:
    from attain.core import Migrations

    register(Migrations("goals", Path(__file__).parent / "migrations", "goals, statuses, settings"))


@hookimpl
def attain_register_commands(cli: typer.Typer) -> None:
    from attain.core.cli_kit import lazy_commands

    lazy_commands(cli, "attain.plugins.goals.cli:register", COMMANDS)
    lazy_commands(cli, "attain.plugins.goals.plan_cli:register", PLAN_COMMANDS)


@hookimpl
def attain_batch_processed(tenant: str, outcomes: list[tuple[AnyEvent, str]], engine: Engine) -> None:
    from . import live

    live.on_batch(tenant, outcomes, engine)


@hookimpl
def attain_notify(tenant: str, kind: str, payload: dict[str, Any], engine: Engine | None) -> None:
    if not kind.startswith("goal.") or kind == "goal.status_changed":  # (a live feed, not an alert)
        return
    from .notify import send

    send(tenant, kind, payload, engine=engine)
