"""Hook specifications the incentives plugin owns (added through ``attain_add_hookspecs``).

A partner's rule plugin implements :func:`attain_register_commission_rules` with
:data:`attain.core.hookimpl` and depends on ``attain.plugins.incentives`` (for
:class:`~attain.plugins.incentives.model.RuleType`), not on the core.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("attain")

#: the registry kind filled by :func:`attain_register_commission_rules`
KIND = "commission_rules"


@hookspec
def attain_register_commission_rules(register: Callable[[Any], None]) -> None:
    """Register commission rule types (flat rate, tiers, caps, SPIFs …).

    :param register: call ``register(rule_type)`` with a
        :class:`attain.plugins.incentives.model.RuleType` (or an object with the same
        attributes): a unique ``name`` (the ``type:`` used in plan files), a ``description``, a
        pydantic ``params`` model and ``compute(ctx, params)``. Every statement line records the
        plugin and version of the rule that produced it.
    :return: nothing; the return value is ignored.

    Example::

        from attain.core import hookimpl


        @hookimpl
        def attain_register_commission_rules(register):
            from my_rules import RegionalSpif  # an object following the incentives protocol

            register(RegionalSpif())
    """
