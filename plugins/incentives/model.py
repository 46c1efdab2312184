"""The data the commission engine works on, and the protocol a rule type implements.

A partner adds a rule type without touching this plugin::

    from attain.core import hookimpl
    from attain.plugins.incentives.model import Line, RuleType

    class Params(BaseModel):
        amount: Decimal

    def compute(ctx, params):
        for c in ctx.credits:
            yield ctx.line(params.amount, deal=c)

    @hookimpl
    def attain_register_commission_rules(register):
        register(RuleType("per_deal_fee", "fixed fee per won deal", Params, compute))

``compute(ctx, params)`` receives a :class:`attain.plugins.incentives.calc.RuleContext` and the
rule's validated parameters and yields :class:`Line` objects with their *exact* amount; the engine
rounds every line half-even to cents and stamps it with the rule id, type, plugin and version.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from .money import ZERO
from .periods import Period

if TYPE_CHECKING:
    from .calc import RuleContext

Role = Literal["rep", "manager"]

RATE_ABOVE_100 = "allow_rate_above_100"
"""A rule's flag saying its rates may exceed 100 % (``rate: 150%`` meant). When a plan *file* is
validated, each rule's params are validated with ``context={RATE_ABOVE_100: flag}`` and the
:data:`~attain.plugins.incentives.rules.Rate` type refuses a rate above 1 unless the flag is set."""
LineKind = Literal["commission", "bonus", "modifier", "override", "clawback", "draw", "adjustment"]


@dataclass(frozen=True, slots=True)
class DealFact:
    """A deal as commissions see it: its latest *won* snapshot, and whether it was un-won later.

    ``reversed_on`` is the date of the first later version that is not won (lost or reopened);
    clawback rules use it. A deal never won has no fact at all.
    """

    deal_id: str
    owner: str
    amount: Decimal
    closed_on: dt.date
    product: str | None = None
    series: str | None = None
    account: str | None = None
    engaged_on: dt.date | None = None
    deal_type: str | None = None
    reversed_on: dt.date | None = None
    reversal: str | None = None  # "lost" | "reopened"


@dataclass(frozen=True, slots=True)
class Credit:
    """The part of a won deal credited to one rep (``share`` percent of the amount)."""

    deal: DealFact
    rep: str
    share: Decimal
    amount: Decimal


@dataclass(slots=True)
class Line:
    """One statement line. ``exact`` is the unrounded result, ``amount`` the rounded cents."""

    exact: Decimal
    kind: str = "commission"
    deal: str | None = None
    rep: str | None = None
    basis: Decimal | None = None
    rate: Decimal | None = None
    tier: str | None = None
    share: Decimal | None = None
    note: str | None = None
    source_period: str | None = None
    inputs: dict[str, Any] | None = None
    amount: Decimal = ZERO
    rule: str = ""
    type: str = ""
    plugin: str = ""
    version: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "type": self.type, "kind": self.kind, "deal": self.deal,
            "rep": self.rep, "share_pct": self.share, "basis": self.basis, "rate": self.rate,
            "tier": self.tier, "exact": self.exact, "amount": self.amount, "note": self.note,
            "source_period": self.source_period, "inputs": self.inputs or {},
            "plugin": self.plugin, "plugin_version": self.version,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Line:
        def dec(v: Any) -> Decimal | None:
            return None if v is None else Decimal(str(v))

        return Line(
            exact=Decimal(str(d["exact"])), kind=d.get("kind", "commission"), deal=d.get("deal"),
            rep=d.get("rep"), basis=dec(d.get("basis")), rate=dec(d.get("rate")),
            tier=d.get("tier"), share=dec(d.get("share_pct")), note=d.get("note"),
            source_period=d.get("source_period"), inputs=d.get("inputs") or None,
            amount=Decimal(str(d["amount"])), rule=d.get("rule", ""), type=d.get("type", ""),
            plugin=d.get("plugin", ""), version=d.get("plugin_version"),
        )


Compute = Callable[["RuleContext", Any], Iterable[Line]]


@dataclass(frozen=True)
class RuleType:
    """A commission rule type, registered through ``attain_register_commission_rules``.

    * ``name`` – the ``type:`` used in plan files (unique across plugins).
    * ``params`` – a pydantic model validating the rule's fields in the plan (use
      ``extra="forbid"`` so typos are reported with their line).
    * ``compute(ctx, params)`` – yields exact :class:`Line` objects.
    * ``roles`` – whose statements it applies to: reps (deal owners) and/or managers.
    """

    name: str
    description: str
    params: type[BaseModel]
    compute: Compute
    roles: frozenset[str] = frozenset({"rep"})
    kind: str = "commission"


@dataclass(frozen=True)
class CompiledRule:
    """A rule of a plan: its id, type, validated params, the payee roles it applies to and the
    plugin (and version) that provides the type."""

    id: str
    type: RuleType
    params: Any
    plugin: str
    version: str | None
    roles: frozenset[str] = frozenset({"rep"})


@dataclass(frozen=True)
class PlanVersion:
    """A validated plan version, ready to compute with."""

    name: str
    version: int
    period: Literal["month", "quarter"]
    rules: tuple[CompiledRule, ...]
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None
    quota: Decimal | None = None
    manager_quota: Decimal | None = None
    currency: str = "USD"
    checksum: str = ""
    spec: Any = None  # the PlanSpec it was compiled from

    def covers(self, period: Period) -> bool:
        return period.overlaps(self.effective_from, self.effective_to)

    @property
    def pays_managers(self) -> bool:
        """Whether a rule pays managers on their team (manager-only rules such as overrides)."""
        return any(r.roles == frozenset({"manager"}) for r in self.rules)

    @property
    def roles(self) -> frozenset[str]:
        out: set[str] = set()
        for r in self.rules:
            out |= r.roles
        return frozenset(out)


@dataclass(frozen=True)
class Assignment:
    """Which plan pays a payee in a period, with the period quota (None = plan default)."""

    plan: PlanVersion
    quota: Decimal | None = None
    start: dt.date | None = None
    end: dt.date | None = None


@dataclass
class StatementResult:
    """What the calculator computed for one payee and period (before persistence)."""

    payee: str
    period: Period
    plan: str | None
    plan_version: int | None
    roles: tuple[str, ...]
    quota: Decimal | None
    credited: Decimal
    deals: int
    lines: list[Line] = field(default_factory=list)
    team_quota: Decimal | None = None
    team_credited: Decimal | None = None
    carry: dict[str, Decimal] = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        return sum((ln.amount for ln in self.lines), ZERO)

    def header(self) -> dict[str, Any]:
        from .money import pct

        out: dict[str, Any] = {
            "plan": self.plan, "plan_version": self.plan_version, "roles": list(self.roles),
            "quota": self.quota, "credited": self.credited, "deals": self.deals,
            "attainment_pct": pct(self.credited, self.quota),
        }
        if self.team_credited is not None:
            out.update(team_credited=self.team_credited, team_quota=self.team_quota,
                       team_attainment_pct=pct(self.team_credited, self.team_quota))
        if self.carry:
            out["carry"] = dict(self.carry)
        return out


class RuleError(Exception):
    """A rule cannot compute (e.g. an attainment rule for a payee without a quota)."""
