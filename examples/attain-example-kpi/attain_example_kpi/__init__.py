"""An example Attain plugin: the ``big_deal_count`` KPI.

``big_deal_count`` counts won deals whose amount is at least 5,000 (in the deal's currency).
Install it next to Attain and it shows up as a column of ``attain kpi``::

    pip install ./examples/attain-example-kpi
    attain kpi --by rep --format json

The module itself is the plugin object: Attain registers it under the entry-point name
``big_deals`` (see ``pyproject.toml``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal

from attain.core import Metric, hookimpl
from attain.core.models import DealEvent

__version__ = "0.1.0"

THRESHOLD = Decimal(5000)


def contribute(deal: DealEvent) -> dict[str, int]:
    """Additive components of one deal snapshot (pure: depends on the snapshot only).

    Leave zeros out: the engine stores components sparsely and retracts this snapshot's
    contribution when a newer version of the deal arrives.
    """
    if deal.status == "won" and deal.amount is not None and deal.amount >= THRESHOLD:
        return {"big_won": 1}
    return {}


def compute(sums: Mapping[str, Decimal]) -> Decimal:
    """Turn the components summed over a group (rep, region, quarter …) into the KPI value."""
    return sums.get("big_won", Decimal(0))


BIG_DEAL_COUNT = Metric(
    name="big_deal_count",
    description="number of won deals with amount >= 5000",
    contribute=contribute,
    compute=compute,
    unit="count",
)


@hookimpl
def attain_register_metrics(register: Callable[[Metric], None]) -> None:
    register(BIG_DEAL_COUNT)
