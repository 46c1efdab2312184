"""Hook specifications the maturity plugin owns (added through ``attain_add_hookspecs``).

A partner's criteria plugin implements them with :data:`attain.core.hookimpl` and depends on
``attain.plugins.maturity`` for the :class:`~attain.plugins.maturity.Criterion`,
:class:`~attain.plugins.maturity.Measurement` and
:class:`~attain.plugins.maturity.MaturityModel` protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("attain")

#: the registry kind filled by :func:`attain_register_maturity_criteria`
KIND = "maturity_criteria"
#: the registry kind filled by :func:`attain_register_maturity_models`
MODELS = "maturity_models"


@hookspec
def attain_register_maturity_criteria(register: Callable[[Any], None]) -> None:
    """Register criteria of the five-level sales & marketing maturity assessment.

    :param register: call ``register(criterion)`` with a
        :class:`attain.plugins.maturity.Criterion` (or an object with its attributes): a unique
        ``name``, a ``description``, its ``level`` (1–5), ``weight`` (default 1), ``required``
        (default true) and ``evidence``: ``"measured"`` with ``measure(data)`` returning a
        :class:`attain.plugins.maturity.Measurement` (``data`` is the tenant's
        :class:`attain.plugins.maturity.TenantData` as of the assessment's day), or
        ``"answered"`` with a yes/no ``question`` (asked by ``attain maturity questionnaire``)
        and optionally ``checked_by``, the measured criterion that can contradict a "yes".
        ``replaces`` names a criterion this one takes the place of.
    :return: nothing; the return value is ignored.

    Example::

        from decimal import Decimal

        from attain.core import hookimpl
        from attain.plugins.maturity import Criterion, Measurement


        def hygiene(data):
            deals = list(data.deals.values())  # each deal's state as of the assessment's day
            full = sum(1 for d in deals if d.account and d.product and d.amount is not None)
            share = Decimal(full) / len(deals) if deals else Decimal(0)
            return Measurement(share >= Decimal("0.9"), round(share, 4),
                               f"{full} of {len(deals)} deals have an account, product and amount",
                               {"deals": len(deals), "complete": full},
                               f"complete your deals: {len(deals) - full} lack a field")


        @hookimpl
        def attain_register_maturity_criteria(register):
            register(Criterion("crm_hygiene", "deals are complete", level=3, weight=Decimal(1),
                               required=False, measure=hygiene))
    """


@hookspec
def attain_register_maturity_models(register: Callable[[Any], None]) -> None:
    """Register a whole maturity model (its levels and, optionally, its own criteria).

    :param register: call ``register(model)`` with a
        :class:`attain.plugins.maturity.MaturityModel`: a unique ``name``, a ``description``,
        ``levels`` (:class:`attain.plugins.maturity.Level` numbers, names and descriptions) and
        ``criteria`` (objects as for :func:`attain_register_maturity_criteria`; None: the
        registered criteria). When exactly one model besides the bundled ``standard`` one is
        registered it replaces it; ``attain maturity assess --model NAME`` picks one.
    :return: nothing; the return value is ignored.

    Example::

        from attain.core import hookimpl
        from attain.plugins.maturity import Level, MaturityModel

        LEVELS = (Level(1, "Starting", "…"), Level(2, "Scaling", "…"), Level(3, "Leading", "…"))


        @hookimpl
        def attain_register_maturity_models(register):
            register(MaturityModel("acme-3", "Acme's three-level model", LEVELS,
                                   criteria=(...,)))  # your Criterion objects
    """
