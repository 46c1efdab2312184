"""Hook specifications the goals plugin owns (added through ``attain_add_hookspecs``).

A partner's goal-type plugin implements them with :data:`attain.core.hookimpl` and depends on
``attain.plugins.goals`` for the :class:`~attain.plugins.goals.GoalType` protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("attain")

#: the registry kind filled by :func:`attain_register_goal_types`
KIND = "goal_types"


@hookspec
def attain_register_goal_types(register: Callable[[Any], None]) -> None:
    """Register goal types (outcome or activity goals over a metric).

    :param register: call ``register(goal_type)`` with a
        :class:`attain.plugins.goals.GoalType` (a unique ``name``, a ``description`` and
        ``date_of(deal)``: the day a deal counts on for goals of this type).
    :return: nothing; the return value is ignored.

    Example::

        from dataclasses import dataclass

        from attain.core import hookimpl


        @dataclass(frozen=True)
        class DemoGoalType:
            name: str = "demos_booked"
            description: str = "number of product demos booked in the period"


        @hookimpl
        def attain_register_goal_types(register):
            register(DemoGoalType())
    """
