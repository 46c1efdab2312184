"""An example partner criterion for Attain's maturity assessment: CRM hygiene.

Registered through the maturity plugin's hook ``attain_register_maturity_criteria``; the
criterion is measured from the tenant's data as of the assessment's day (``data.deals``: each
deal's state as of that day) and says what it found with the numbers used.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from attain.core import hookimpl
from attain.plugins.maturity import Criterion, Measurement, TenantData

THRESHOLD = Decimal("0.9")


def hygiene(data: TenantData) -> Measurement:
    deals = list(data.deals.values())
    complete = sum(1 for d in deals if d.account and d.product and d.amount is not None)
    share = (Decimal(complete) / len(deals)).quantize(Decimal("0.0001")) if deals else Decimal(0)
    return Measurement(
        met=bool(deals) and share >= THRESHOLD, value=share,
        detail=f"{complete:,} of {len(deals):,} deals have an account, a product and an amount",
        numbers={"deals": len(deals), "complete": complete},
        recommendation=f"complete your deals: {len(deals) - complete:,} of {len(deals):,} lack an "
                       "account, a product or an amount")


CRM_HYGIENE = Criterion("crm_hygiene", "more than 90 % of the deals have an account, a product "
                        "and an amount", level=3, weight=Decimal(1), required=False, measure=hygiene)


@hookimpl
def attain_register_maturity_criteria(register: Callable[[Any], None]) -> None:
    register(CRM_HYGIENE)
