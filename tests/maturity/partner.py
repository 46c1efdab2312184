"""A partner's plugin for the maturity tests: a measured criterion of its own (registered through
the maturity plugin's hook, exactly as an installed package's would be) and a commission rule type
that pays on a funnel KPI (so a plan can count a non-revenue goal)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from attain.core import hookimpl
from attain.plugins.incentives.model import RuleType
from attain.plugins.maturity import Criterion, Measurement, TenantData
from pydantic import BaseModel, ConfigDict


def hygiene(data: TenantData) -> Measurement:
    deals = list(data.deals.values())
    complete = sum(1 for d in deals if d.account and d.product and d.amount is not None)
    share = Decimal(complete) / len(deals) if deals else Decimal(0)
    return Measurement(share >= Decimal("0.9"), round(share, 4),
                       f"{complete} of {len(deals)} deals have an account, a product and an amount",
                       {"deals": len(deals), "complete": complete},
                       f"complete your deals: {len(deals) - complete} lack an account, product or amount")


CRM_HYGIENE = Criterion("crm_hygiene", "deals are complete (account, product, amount)", level=3,
                        weight=Decimal(1), required=False, measure=hygiene)


class FunnelBonusParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    metric: str
    amount: Decimal


def funnel_bonus(ctx: Any, params: FunnelBonusParams) -> list[Any]:
    return []  # the test only needs the plan to name the KPI it pays on


FUNNEL_BONUS = RuleType("funnel_bonus", "a bonus per funnel KPI reached", FunnelBonusParams,
                        funnel_bonus, kind="bonus")


@hookimpl
def attain_register_maturity_criteria(register: Any) -> None:
    register(CRM_HYGIENE)


@hookimpl
def attain_register_commission_rules(register: Any) -> None:
    register(FUNNEL_BONUS)
