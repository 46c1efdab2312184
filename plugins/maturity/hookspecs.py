"""Hook specifications the maturity plugin owns (added through ``attain_add_hookspecs``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("attain")

#: the registry kind filled by :func:`attain_register_maturity_criteria`
KIND = "maturity_criteria"


@hookspec
def attain_register_maturity_criteria(register: Callable[[Any], None]) -> None:
    """Register criteria of the five-level sales & marketing maturity assessment.

    :param register: call ``register(criterion)`` with an object that has a unique ``name`` and a
        ``description``; the maturity plugin defines the full protocol.
    :return: nothing; the return value is ignored.

    Example::

        from dataclasses import dataclass

        from attain.core import hookimpl


        @dataclass(frozen=True)
        class CrmHygiene:
            name: str = "crm_hygiene"
            description: str = "open deals have an account, a product and an amount"


        @hookimpl
        def attain_register_maturity_criteria(register):
            register(CrmHygiene())
    """
