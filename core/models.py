"""Event and domain models.

Every fact Attain knows arrives as an event. Deal events are *snapshots* (change-data-capture
style): each carries the full current state of one deal, and the highest ``version`` of a deal
wins. Lead, activity, customer, cost and rep events are facts that happen once.

Money is :class:`decimal.Decimal` end to end; JSON numbers and strings are both accepted on input
and read as exact decimals. (pydantic reads a JSON number with a fraction or an exponent as a
float, which holds 15 to 17 significant digits: :func:`parse_event` re-reads a text that had
such a number with ``json.loads(parse_float=Decimal)``, so ``12345678901234.123456`` stays what
it says.)
"""

from __future__ import annotations

import datetime as dt
import json
from contextvars import ContextVar
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

#: ``deleted``: the deal was deleted in the source system. A deleted snapshot contributes nothing
#: to any metric; like any snapshot it wins by ``version``, so an older version arriving after the
#: delete is stale and the deal stays deleted (a newer one, e.g. restored from a recycle bin,
#: brings it back).
DealStatus = Literal["open", "won", "lost", "deleted"]

#: set when a money field was given a float (a JSON number with a fraction or an exponent, as
#: pydantic's JSON parser hands it over): the text is then re-read exactly (see parse_event)
_float_money: ContextVar[bool] = ContextVar("attain_float_money", default=False)


def _no_float_rounding(v: Any) -> Any:
    if isinstance(v, float):
        _float_money.set(True)
        # repr() is the float's shortest decimal text: exact for up to 15 significant digits.
        return Decimal(repr(v))
    return v


# (The constraints before the validator: pydantic-core then checks them inside its own decimal
# validator; after it, pydantic checked them again in Python, 3× the cost per field: measured
# 3.7 → 1.2 µs, the same errors. The before-validator still runs first.)
Money = Annotated[Decimal, Field(ge=0, max_digits=20, decimal_places=6), BeforeValidator(_no_float_rounding)]

# Bounds of what the store can hold: every field is checked here, so an event the database could
# not take is a dead letter with a clear reason instead of a failed batch. Lengths match the
# store's columns (core/store.py); versions fit a signed 64-bit integer.
MAX_VERSION = 2**63 - 1
ID_LEN = 200       # event, deal, lead and activity ids; the entity id column
NAME_LEN = 200     # reps, accounts, products (the deals and kpi_cells columns)
STAGE_LEN = 100
TENANT_LEN = 100
TEXT_LEN = 1000    # free text kept only in the event log (lead source, disqualification reason)
MAX_MINUTES = 2**31 - 1
MAX_ATTRIBUTES = 50
ATTRIBUTE_KEY_LEN = 100

#: an attribute value: text, a boolean, a whole number or null. A decimal number travels as its
#: exact text ("1234.50"): JSON has no exact decimal type, and the text reads back unchanged.
AttributeValue = (Annotated[str, Field(max_length=TEXT_LEN)] | bool
                  | Annotated[int, Field(ge=-MAX_VERSION - 1, le=MAX_VERSION)] | None)
AttributeKey = Annotated[str, Field(min_length=1, max_length=ATTRIBUTE_KEY_LEN)]


class _Event(BaseModel):
    # defer_build: a model's validator is built on its first validation, not at import (a
    # command that only reads the store, `attain kpi`, never builds one: a sixth of a second)
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True, defer_build=True)

    event_id: str = Field(min_length=1, max_length=ID_LEN, description="Unique id of this event.")
    tenant: str = Field(default="default", min_length=1, max_length=TENANT_LEN)
    occurred_at: dt.datetime = Field(description="When it happened in the source system (ISO-8601).")
    attributes: dict[AttributeKey, AttributeValue] | None = Field(
        default=None, max_length=MAX_ATTRIBUTES,
        description="Extra source fields carried along (e.g. a CRM's custom fields), kept in the "
                    "event log; no core metric reads them.")

    @field_validator("occurred_at", "first_response_at", mode="after", check_fields=False)
    @classmethod
    def _utc_in_range(cls, v: dt.datetime | None) -> dt.datetime | None:
        # The store keeps instants in UTC: 0001-01-01T00:00+05:00 has no UTC date.
        if v is not None and v.tzinfo is not None:
            try:
                v.astimezone(dt.UTC)
            except OverflowError:
                raise ValueError("date and time out of range once converted to UTC") from None
        return v


class DealEvent(_Event):
    """The full current state of one deal, as of ``version``."""

    type: Literal["deal"] = "deal"
    deal_id: str = Field(min_length=1, max_length=ID_LEN)
    version: int = Field(ge=0, le=MAX_VERSION, description="Increases with every change of that deal.")
    owner: str = Field(min_length=1, max_length=NAME_LEN, description="The sales rep who owns the deal.")
    account: str | None = Field(default=None, max_length=NAME_LEN)
    product: str | None = Field(default=None, max_length=NAME_LEN)
    stage: str = Field(min_length=1, max_length=STAGE_LEN, description="The CRM's own stage label.")
    status: DealStatus
    amount: Money | None = Field(default=None, description="Deal value; may be null while open.")
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    engaged_on: dt.date | None = None
    closed_on: dt.date | None = None
    lead_source: str | None = Field(
        default=None, max_length=NAME_LEN,
        description="The marketing source (campaign or channel) the deal came from, if any: "
                    "such a deal is marketing-sourced.")

    @model_validator(mode="after")
    def _consistent(self) -> DealEvent:
        if self.closed_on is not None and self.engaged_on is not None:
            if self.closed_on < self.engaged_on:
                raise ValueError(
                    f"closed_on {self.closed_on} is before engaged_on {self.engaged_on}"
                )
        if self.status in ("won", "lost") and self.amount is None:
            raise ValueError(f"a {self.status} deal needs an amount (0 is allowed)")
        return self


LeadKind = Literal["created", "mql", "sal", "sql", "converted", "disqualified"]


class LeadEvent(_Event):
    """A lead moved through the funnel: created → MQL → SAL → SQL → converted (or disqualified)."""

    type: Literal["lead"] = "lead"
    lead_id: str = Field(min_length=1, max_length=ID_LEN)
    kind: LeadKind
    owner: str | None = Field(default=None, max_length=NAME_LEN)
    source: str | None = Field(default=None, max_length=TEXT_LEN, description="Campaign or channel.")
    first_response_at: dt.datetime | None = Field(
        default=None, description="When a rep first responded to the lead."
    )
    deal_id: str | None = Field(default=None, max_length=ID_LEN, description="Set when the lead converts.")
    reason: str | None = Field(default=None, max_length=TEXT_LEN, description="Why it was disqualified.")

    @model_validator(mode="after")
    def _responded_after_creation(self) -> LeadEvent:
        if self.first_response_at is not None and _instant(self.first_response_at) < _instant(self.occurred_at):
            raise ValueError(f"first_response_at {self.first_response_at.isoformat()} is before "
                             f"occurred_at {self.occurred_at.isoformat()}")
        return self


#: selling activities (``call`` … ``demo``) and enablement ones (``coaching``, ``training``,
#: ``call_review``: a rep being coached, trained or having a call reviewed; ``owner`` is that rep)
ActivityKind = Literal["call", "email", "meeting", "demo", "coaching", "training", "call_review"]
ENABLEMENT_KINDS: tuple[str, ...] = ("coaching", "training", "call_review")


class ActivityEvent(_Event):
    """A sales activity logged by a rep."""

    type: Literal["activity"] = "activity"
    activity_id: str = Field(min_length=1, max_length=ID_LEN)
    kind: ActivityKind
    owner: str = Field(min_length=1, max_length=NAME_LEN)
    deal_id: str | None = Field(default=None, max_length=ID_LEN)
    account: str | None = Field(default=None, max_length=NAME_LEN)
    duration_minutes: int | None = Field(default=None, ge=0, le=MAX_MINUTES)
    coach: str | None = Field(default=None, max_length=NAME_LEN,
                              description="Who coached, trained or reviewed (enablement kinds).")


CustomerKind = Literal["churned", "renewed"]


class CustomerEvent(_Event):
    """A customer account churned or renewed."""

    type: Literal["customer"] = "customer"
    account: str = Field(min_length=1, max_length=NAME_LEN)
    kind: CustomerKind
    amount: Money | None = Field(default=None, description="Recurring value lost or renewed.")
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")


CostCategory = Literal["marketing", "sales", "other"]


class CostEvent(_Event):
    """Money spent: a marketing campaign, sales salaries and tools, anything else.

    Give either ``occurred_at`` or ``period`` (a month ``2017-07``, a quarter ``2017-Q3`` or a
    year ``2017``): a cost for a period counts on the period's first day (00:00 UTC), so it falls
    in that period for every grouping at least as coarse as it. With both, ``occurred_at`` must
    be inside ``period``.
    """

    type: Literal["cost"] = "cost"
    cost_id: str = Field(min_length=1, max_length=ID_LEN)
    category: CostCategory
    channel: str | None = Field(default=None, max_length=NAME_LEN, description="e.g. paid search")
    campaign: str | None = Field(default=None, max_length=NAME_LEN,
                                 description="The campaign; leads and deals name it as their source.")
    amount: Money
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    period: str | None = Field(default=None, max_length=20,
                               description="The month, quarter or year the cost is for.")

    @model_validator(mode="before")
    @classmethod
    def _day_from_period(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("period") in (None, ""):
            return data
        from .periods import PeriodError, parse_period  # (periods does not import models)

        try:
            p = parse_period(data["period"])
        except PeriodError as exc:
            raise ValueError(str(exc)) from None
        if p.kind not in ("month", "quarter", "year"):
            raise ValueError(f"period: {data['period']!r} is not a month, quarter or year")
        data = dict(data, period=p.key)
        if data.get("occurred_at") in (None, ""):
            data["occurred_at"] = dt.datetime.combine(p.start, dt.time(), dt.UTC)
        return data

    @model_validator(mode="after")
    def _inside_period(self) -> CostEvent:
        if self.period is not None:
            from .periods import parse_period, utc_day

            p = parse_period(self.period)
            if not p.contains(utc_day(self.occurred_at)):
                raise ValueError(f"occurred_at {self.occurred_at.isoformat()} is not in period {p.key}")
        return self


RepKind = Literal["hired", "left", "role_change"]


class RepEvent(_Event):
    """A change in the team: a rep was hired, left, or changed role (``occurred_at`` is the
    date it took effect)."""

    type: Literal["rep"] = "rep"
    rep: str = Field(min_length=1, max_length=NAME_LEN, description="The rep's name (as deal owner).")
    kind: RepKind
    role: str | None = Field(default=None, max_length=STAGE_LEN, description="The (new) role.")
    manager: str | None = Field(default=None, max_length=NAME_LEN)
    region: str | None = Field(default=None, max_length=STAGE_LEN)

    @property
    def owner(self) -> str:
        """The rep, as the owner that KPIs group by (rep, manager, region)."""
        return self.rep


Event = Annotated[
    DealEvent | LeadEvent | ActivityEvent | CustomerEvent | CostEvent | RepEvent,
    Field(discriminator="type"),
]
AnyEvent = DealEvent | LeadEvent | ActivityEvent | CustomerEvent | CostEvent | RepEvent
EVENT_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(Event, config=ConfigDict(defer_build=True))
#: every event type's ``type`` value
EVENT_TYPES: tuple[str, ...] = ("deal", "lead", "activity", "customer", "cost", "rep")


def _instant(t: dt.datetime) -> dt.datetime:
    """``t`` as a naive UTC time (naive times are UTC, as everywhere in the store)."""
    return t if t.tzinfo is None else t.astimezone(dt.UTC).replace(tzinfo=None)


def parse_event(data: str | bytes) -> AnyEvent:
    """Parse and validate one JSON event; raises :class:`pydantic.ValidationError`.

    Amounts written as JSON numbers are read exactly, whatever their number of digits."""
    float_money_seen()  # forget a flag a validation outside this function may have left
    try:
        ev = EVENT_ADAPTER.validate_json(data)
    except ValidationError:
        if not float_money_seen():
            raise
        return parse_exact(data)
    return parse_exact(data) if float_money_seen() else ev


def float_money_seen() -> bool:
    """Whether a money field was given a float since the last call (and forget it)."""
    if _float_money.get():
        _float_money.set(False)
        return True
    return False


def parse_exact(data: str | bytes) -> AnyEvent:
    """Validate a JSON event whose numbers are read as exact decimals (``json.loads`` with
    ``parse_float=Decimal``): slower than :data:`EVENT_ADAPTER`'s ``validate_json``, which reads
    them as floats, so it is only used for a text that had a money field written that way.
    Raises :class:`pydantic.ValidationError`."""
    try:
        obj = json.loads(data, parse_float=Decimal)
    except ValueError:
        obj = None
    if not isinstance(obj, dict):  # not JSON, or not an object: validate_json says why
        return EVENT_ADAPTER.validate_json(data)
    try:
        return EVENT_ADAPTER.validate_python(obj)
    finally:
        _float_money.set(False)


def event_json_schema() -> dict[str, Any]:
    """The JSON Schema of every event type (what ``attain schema`` prints)."""
    return EVENT_ADAPTER.json_schema()


def entity_key(event: AnyEvent) -> str:
    """The id of the thing an event is about (used as the Kafka message key with the tenant)."""
    if isinstance(event, DealEvent):
        return event.deal_id
    if isinstance(event, LeadEvent):
        return event.lead_id
    if isinstance(event, ActivityEvent):
        return event.activity_id
    if isinstance(event, CostEvent):
        return event.cost_id
    if isinstance(event, RepEvent):
        return event.rep
    return event.account


# ---------------------------------------------------------------------------------------------
# Dimensions: reference data that KPIs are grouped by. They are looked up when KPIs are read, so
# loading the roster after the deals (or fixing a typo in it) regroups every figure correctly.


class Rep(BaseModel):
    model_config = ConfigDict(defer_build=True)

    name: str = Field(min_length=1, max_length=NAME_LEN)
    manager: str | None = Field(default=None, max_length=NAME_LEN)
    region: str | None = Field(default=None, max_length=STAGE_LEN)


class Account(BaseModel):
    model_config = ConfigDict(defer_build=True)

    name: str = Field(min_length=1, max_length=NAME_LEN)
    sector: str | None = Field(default=None, max_length=STAGE_LEN)
    parent: str | None = Field(default=None, max_length=NAME_LEN)


class Product(BaseModel):
    model_config = ConfigDict(defer_build=True)

    name: str = Field(min_length=1, max_length=NAME_LEN)
    series: str | None = Field(default=None, max_length=STAGE_LEN)
    list_price: Money | None = None
