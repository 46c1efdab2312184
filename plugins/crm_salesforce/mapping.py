"""The per-tenant field mapping (a YAML file, ``--mapping`` or ``ATTAIN_SALESFORCE_MAPPING``).

Every key is optional; the defaults fit a standard org::

    amount_field: Amount          # Opportunity field of the deal amount (e.g. ARR__c)
    region_field: Division        # User field of the rep's region
    engaged_field: CreatedDate    # Opportunity date or dateTime of engaged_on (cycle time)
    default_currency: USD         # when the org has no CurrencyIsoCode (single currency)
    stages:                       # per StageName: a label to show, a status for history rows
      Closed Won: {label: Won}
      Legacy Stage: {status: lost}
    lead_statuses:                # Lead Status → mql, sal, sql, disqualified or null (no event)
      Open - Not Contacted: mql
    activity_types:               # Task/Event Type or subtype → call, email, meeting, demo or null
      Demo: demo
    event_kind: meeting           # an Event whose type maps to nothing (null: skip it)
    extra_fields:                 # custom fields carried as event attributes
      Opportunity: [Forecast__c]
    tenants:                      # per tenant: the same keys, over the ones above
      acme:
        amount_field: ARR__c

``lead_statuses`` and ``activity_types`` add to (and may override) the defaults below. A file
that breaks these rules is one error naming the file and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .soql import name

LeadStatusKind = Literal["mql", "sal", "sql", "disqualified"]
ActivityKind = Literal["call", "email", "meeting", "demo"]
ExtraObject = Literal["Opportunity", "Lead", "Task", "Event"]
FieldName = Annotated[str, Field(min_length=1, max_length=100)]

#: the standard Lead Status picklist
DEFAULT_LEAD_STATUSES: dict[str, LeadStatusKind | None] = {
    "Open - Not Contacted": "mql",
    "Working - Contacted": "sal",
    "Closed - Converted": "sql",
    "Closed - Not Converted": "disqualified",
}
#: the standard Task/Event Type and TaskSubtype / EventSubtype values
DEFAULT_ACTIVITY_TYPES: dict[str, ActivityKind | None] = {
    "Call": "call", "Email": "email", "ListEmail": "email", "Meeting": "meeting", "Demo": "demo",
}


class MappingError(Exception):
    """The mapping file is invalid; the message names the file and the key."""


class StageRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str | None = Field(default=None, min_length=1, max_length=100)
    status: Literal["open", "won", "lost"] | None = None


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    amount_field: FieldName = "Amount"
    region_field: FieldName = "Division"
    engaged_field: FieldName = "CreatedDate"
    default_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    stages: dict[str, StageRule] = Field(default_factory=dict)
    lead_statuses: dict[str, LeadStatusKind | None] = Field(
        default_factory=lambda: dict(DEFAULT_LEAD_STATUSES))
    activity_types: dict[str, ActivityKind | None] = Field(
        default_factory=lambda: dict(DEFAULT_ACTIVITY_TYPES))
    event_kind: ActivityKind | None = "meeting"
    extra_fields: dict[ExtraObject, list[FieldName]] = Field(default_factory=dict)

    @field_validator("amount_field", "region_field", "engaged_field")
    @classmethod
    def _field_name(cls, v: str) -> str:
        if "." in v:
            raise ValueError("must be a field of the object itself, not a relationship path")
        return name(v)

    @field_validator("extra_fields")
    @classmethod
    def _extra(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for obj, fields in v.items():
            for f in fields:
                if "." in f:
                    raise ValueError(f"{obj}: {f!r} must be a field of the object, not a path")
                name(f)
            if len(fields) > 50:
                raise ValueError(f"{obj}: at most 50 extra fields (an event carries 50 attributes)")
        return v

    def stage_label(self, stage: str) -> str:
        rule = self.stages.get(stage)
        return rule.label if rule is not None and rule.label else stage

    def extra(self, sobject: str) -> list[str]:
        return list(self.extra_fields.get(sobject, []))  # type: ignore[call-overload]


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = {**out[k], **v} if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _explain(where: str, exc: ValidationError) -> str:
    parts = []
    for e in exc.errors(include_url=False)[:5]:
        loc = ".".join(str(x) for x in e.get("loc", ()))
        msg = e.get("msg", "invalid")
        if e.get("type") == "extra_forbidden":
            msg = "unknown key"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return f"{where}: " + "; ".join(parts)


def _read_yaml(path: str) -> Any:
    """The YAML document of the mapping file at ``path`` (a :class:`MappingError` if unreadable)."""
    try:
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MappingError(f"mapping file {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"mapping file {path}: cannot read it ({type(exc).__name__})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise MappingError(f"mapping file {path}{where}: not valid YAML "
                           f"({getattr(exc, 'problem', None) or 'syntax error'})") from None


def load_mapping(path: str | None, tenant: str) -> Mapping:
    """The mapping of ``tenant`` from the file at ``path`` (the defaults without a file)."""
    if not path:
        return Mapping()
    data = _read_yaml(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise MappingError(f"mapping file {path}: must be a mapping of keys (amount_field, stages …)")
    tenants = data.pop("tenants", None) or {}
    if not isinstance(tenants, dict) or not all(isinstance(v, dict) for v in tenants.values()):
        raise MappingError(f"mapping file {path}: tenants: must map each tenant to its keys")
    for key in ("lead_statuses", "activity_types"):
        for section, where in ((data, ""), *((t, f"tenants.{n}.") for n, t in tenants.items())):
            if section.get(key) is not None and not isinstance(section[key], dict):
                raise MappingError(f"mapping file {path}: {where}{key}: must be a mapping")

    def build(section: dict[str, Any], where: str) -> Mapping:
        values = _merge(data, section)
        for key, defaults in (("lead_statuses", DEFAULT_LEAD_STATUSES),
                              ("activity_types", DEFAULT_ACTIVITY_TYPES)):
            values[key] = {**defaults, **(values.get(key) or {})}
        try:
            return Mapping(**values)
        except ValidationError as exc:
            raise MappingError(_explain(f"mapping file {path}{where}", exc)) from None
        except ValueError as exc:
            raise MappingError(f"mapping file {path}{where}: {exc}") from None

    build({}, "")
    for n, section in tenants.items():  # every tenant's section is checked, not just this one's
        build(section, f" (tenants.{n})")
    return build(tenants.get(tenant, {}), f" (tenants.{tenant})" if tenant in tenants else "")
