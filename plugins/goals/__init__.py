"""The ``goals`` plugin: SMART goals, cascades, pacing, at-risk alerts and quota planning.

Hooks implemented (see docs/goals.md):

* ``attain_register_goal_types`` — the ``outcome`` (closed_on) and ``activity`` (engaged_on)
  goal types;
* ``attain_register_commands`` — ``attain goals …`` and ``attain plan quotas``;
* ``attain_batch_processed`` — live re-evaluation (once per batch) of the goals whose owner
  matches an accepted deal, lead or activity event, notifying transitions into at_risk /
  off_track;
* ``attain_notify`` — the webhook notifier (``ATTAIN_GOALS_WEBHOOK_URL`` or the ``webhook_urls``
  setting) for ``goal.*`` notifications.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from attain.core import hookimpl
from attain.core.engine import Engine
from attain.core.models import AnyEvent

from . import live
from .model import ACTIVITY, OUTCOME, Goal, GoalError, GoalType
from .service import GoalService

__all__ = ["ACTIVITY", "OUTCOME", "Goal", "GoalError", "GoalService", "GoalType"]


@hookimpl
def attain_register_goal_types(register: Callable[..., None]) -> None:
    register(OUTCOME)
    register(ACTIVITY)


@hookimpl
def attain_register_commands(cli: Any) -> None:
    from .cli import register

    register(cli)


@hookimpl
def attain_batch_processed(tenant: str, outcomes: list[tuple[AnyEvent, str]], engine: Engine) -> None:
    live.on_batch(tenant, outcomes, engine)


@hookimpl
def attain_notify(tenant: str, kind: str, payload: dict[str, Any]) -> None:
    if not kind.startswith("goal."):
        return
    from .notify import send

    send(tenant, kind, payload)
