"""A partner's commission rule type for the maturity tests: it pays on a funnel KPI (its
``metric:``), so a plan can count a non-revenue goal. The partner maturity criterion comes from
the example package, examples/attain-example-maturity."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from attain.core import hookimpl
from attain.plugins.incentives.model import RuleType
from pydantic import BaseModel, ConfigDict


class FunnelBonusParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    metric: str
    amount: Decimal


def funnel_bonus(ctx: Any, params: FunnelBonusParams) -> list[Any]:
    return []  # the tests only need the plan to name the KPI it pays on


FUNNEL_BONUS = RuleType("funnel_bonus", "a bonus per funnel KPI reached", FunnelBonusParams,
                        funnel_bonus, kind="bonus")


@hookimpl
def attain_register_commission_rules(register: Any) -> None:
    register(FUNNEL_BONUS)
