"""Plan files (YAML or JSON), validated by pydantic, with errors that name the line and field.

A plan file describes one *version* of a plan::

    plan: ae-2017            # name
    version: 1               # optional; a changed file gets the next version when stored
    effective_from: 2017-01-01
    period: quarter          # month | quarter
    quota: 250000            # default quota per period (assignments may override)
    payees: all              # all | [rep, ...]
    assignments: [{rep: Darcel Schlecht, quota: 400000, start: 2017-01-01}]
    splits: [{deal: 1C1I7A6R, shares: {Moses Frase: 60, Darcel Schlecht: 40}}]
    rules:
      - id: base
        type: tiered
        tiers: [{to_pct: 100, rate: 4%}, {from_pct: 100, rate: 6%}]

Every rule's extra fields are validated by the params model of its type (a registered
:class:`~attain.plugins.incentives.model.RuleType`). Numbers are read straight into
:class:`~decimal.Decimal` (the YAML loader never makes floats).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .model import RATE_ABOVE_100, CompiledRule, PlanVersion, RuleType
from .money import HUNDRED, to_decimal

# ---------------------------------------------------------------------------------------------
# YAML → Python with Decimal numbers and the node tree kept for line numbers


class _DecimalLoader(yaml.SafeLoader):
    """Safe YAML with YAML 1.2 booleans (only true/false: ``on:``/``no`` stay strings) and
    every float read as an exact Decimal."""


_DecimalLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_DecimalLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))


def _construct_decimal(loader: yaml.SafeLoader, node: yaml.Node) -> Decimal | str:
    """A YAML float as an exact Decimal. ``.nan``/``.inf``/``-.inf`` become Decimal NaN and
    infinities, which every numeric field rejects ("Input should be a finite number") with the
    line; what YAML 1.1 calls a float but is no decimal (``1:30.5``, ``1.2.3``) stays text, for
    the field to accept or reject."""
    text = str(loader.construct_scalar(node)).replace("_", "")  # type: ignore[arg-type]
    special = text.lower().lstrip("+")
    if special in (".nan", ".inf", "-.inf"):
        return Decimal({".nan": "NaN", ".inf": "Infinity", "-.inf": "-Infinity"}[special])
    try:
        return to_decimal(text)
    except ValueError:
        return text


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _construct_decimal)


def _parse(text: str) -> tuple[Any, yaml.Node | None]:
    loader = _DecimalLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]
    return data, node


def _node_at(root: yaml.Node | None, loc: tuple[Any, ...]) -> yaml.Node | None:
    """The deepest YAML node on the path ``loc`` (pydantic's error location)."""
    node = root
    best = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    nxt = v
                    break
            if nxt is None:
                break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
        else:
            break
        best = node
    return best


# ---------------------------------------------------------------------------------------------
# The plan model


class PlanError(ValueError):
    """A plan file that cannot be used; ``problems`` are ``(line, field, message)``."""

    def __init__(self, source: str, problems: list[tuple[int | None, str, str]]) -> None:
        self.source = source
        self.problems = problems
        text = "\n".join(
            f"{source}:{line if line is not None else '?'}: {field}: {msg}" if field
            else f"{source}:{line if line is not None else '?'}: {msg}"
            for line, field, msg in problems
        )
        super().__init__(f"invalid plan\n{text}")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AssignmentSpec(_Spec):
    rep: str = Field(min_length=1)
    start: dt.date | None = None
    end: dt.date | None = None
    quota: Decimal | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _dates(self) -> AssignmentSpec:
        if self.start and self.end and self.end < self.start:
            raise ValueError("end is before start")
        return self


class SplitSpec(_Spec):
    deal: str = Field(min_length=1)
    shares: dict[str, Decimal] = Field(description="rep → percent; must sum to exactly 100")

    @field_validator("shares")
    @classmethod
    def _sum(cls, v: dict[str, Decimal]) -> dict[str, Decimal]:
        return check_shares(v)


def check_shares(shares: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """Split percentages: each positive, summing to exactly 100."""
    if not shares:
        raise ValueError("a split needs at least one rep")
    for rep, p in shares.items():
        if p <= 0:
            raise ValueError(f"{rep}: a share must be positive, got {p}")
    total = sum(shares.values(), Decimal(0))
    if total != HUNDRED:
        raise ValueError(f"shares sum to {total}%, not 100%")
    return dict(shares)


class RuleSpec(BaseModel):
    """``id``, ``type``, optional ``description`` and ``role``; other keys are the type's params."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.\-]+$")
    type: str = Field(min_length=1)
    description: str | None = None
    role: Literal["rep", "manager", "both"] | None = None

    def params(self) -> dict[str, Any]:
        return {k: v for k, v in (self.model_extra or {}).items() if k != RATE_ABOVE_100}

    def rate_above_100(self) -> Any:
        """The rule's ``allow_rate_above_100`` as written (default false). It is kept out of
        the declared fields so that plans without it keep their checksum (and version)."""
        return (self.model_extra or {}).get(RATE_ABOVE_100, False)


class PlanSpec(_Spec):
    plan: str = Field(min_length=1, max_length=200, pattern=r"^[^\s/\\][^/\\]*$")
    version: int | None = Field(default=None, ge=1)
    description: str | None = None
    effective_from: dt.date | None = None
    effective_to: dt.date | None = None
    period: Literal["month", "quarter"] = "quarter"
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    quota: Decimal | None = Field(default=None, ge=0, description="default quota per period")
    manager_quota: Decimal | None = Field(default=None, ge=0)
    payees: Literal["all"] | list[str] = "all"
    assignments: list[AssignmentSpec] = Field(default_factory=list)
    splits: list[SplitSpec] = Field(default_factory=list)
    rules: list[RuleSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> PlanSpec:
        if self.effective_from and self.effective_to and self.effective_to < self.effective_from:
            raise ValueError("effective_to is before effective_from")
        seen = set()
        for s in self.splits:
            if s.deal in seen:
                raise ValueError(f"deal {s.deal} is split twice")
            seen.add(s.deal)
        return self

    def checksum(self) -> str:
        body = self.model_dump(mode="json", exclude={"version"})
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _loc_text(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problems(exc: ValidationError, root: yaml.Node | None, prefix: tuple[Any, ...] = ()
              ) -> list[tuple[int | None, str, str]]:
    out = []
    for err in exc.errors(include_url=False):
        loc = prefix + tuple(err.get("loc", ()))
        node = _node_at(root, loc)
        line = node.start_mark.line + 1 if node is not None else None
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            msg = "unknown field"
        out.append((line, _loc_text(loc), msg))
    return out


def load_plan_text(text: str, source: str = "<plan>",
                   rule_types: Mapping[str, RuleType] | None = None,
                   owners: Mapping[str, tuple[str, str | None]] | None = None,
                   version: int | None = None) -> PlanVersion:
    """Parse, validate and compile a plan; raises :class:`PlanError` with line numbers."""
    try:
        data, root = _parse(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise PlanError(source, [(line, "", f"not valid YAML/JSON: {getattr(exc, 'problem', exc)}")]
                        ) from exc
    if not isinstance(data, dict):
        raise PlanError(source, [(1, "", "a plan must be a mapping with plan:, period:, rules: …")])
    try:
        spec = PlanSpec.model_validate(data)
    except ValidationError as exc:
        raise PlanError(source, _problems(exc, root)) from exc
    return compile_plan(spec, source, root, rule_types, owners, version)


def load_plan_file(path: str | Path, rule_types: Mapping[str, RuleType] | None = None,
                   owners: Mapping[str, tuple[str, str | None]] | None = None) -> PlanVersion:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(str(p), [(None, "", f"cannot read: {exc.strerror or exc}")]) from exc
    return load_plan_text(text, str(p), rule_types, owners)


def compile_plan(spec: PlanSpec, source: str = "<plan>", root: yaml.Node | None = None,
                 rule_types: Mapping[str, RuleType] | None = None,
                 owners: Mapping[str, tuple[str, str | None]] | None = None,
                 version: int | None = None, check_rates: bool = True) -> PlanVersion:
    """Validate each rule's params against its registered type and build a PlanVersion.

    With ``check_rates``, a rate above 100 % is an error unless its rule sets
    ``allow_rate_above_100: true``."""
    if rule_types is None or owners is None:
        from .registry import rule_registry

        rule_types, owners = rule_registry()
    problems: list[tuple[int | None, str, str]] = []
    compiled: list[CompiledRule] = []
    ids: set[str] = set()
    for i, rule in enumerate(spec.rules):
        loc: tuple[Any, ...] = ("rules", i)
        rt = rule_types.get(rule.type)
        if rt is None:
            known = ", ".join(sorted(rule_types)) or "none"
            node = _node_at(root, (*loc, "type"))
            problems.append((node.start_mark.line + 1 if node else None, _loc_text((*loc, "type")),
                             f"unknown rule type {rule.type!r} (installed: {known})"))
            continue
        rid = rule.id or f"{rule.type}-{i + 1}"
        if rid in ids:
            node = _node_at(root, (*loc, "id"))
            problems.append((node.start_mark.line + 1 if node else None, _loc_text((*loc, "id")),
                             f"rule id {rid!r} is used twice"))
        ids.add(rid)
        allow = rule.rate_above_100()
        if not isinstance(allow, bool):
            node = _node_at(root, (*loc, RATE_ABOVE_100))
            problems.append((node.start_mark.line + 1 if node else None,
                             _loc_text((*loc, RATE_ABOVE_100)), "must be true or false"))
            continue
        try:
            # Stored versions were checked when they were stored: only files get the rate check.
            params = rt.params.model_validate(rule.params(), context={RATE_ABOVE_100: allow}
                                              if check_rates else None)
        except ValidationError as exc:
            problems.extend(_problems(exc, root, loc))
            continue
        applies = getattr(params, "applies_to", None)
        for target in applies or ():
            if target not in ids or target == rid:
                node = _node_at(root, (*loc, "applies_to"))
                problems.append((node.start_mark.line + 1 if node else None,
                                 _loc_text((*loc, "applies_to")),
                                 f"{target!r} is not the id of an earlier rule"))
        roles = {"rep": frozenset({"rep"}), "manager": frozenset({"manager"}),
                 "both": frozenset({"rep", "manager"})}.get(rule.role or "", rt.roles)
        plugin, plugin_version = owners.get(rule.type, ("", None))
        compiled.append(CompiledRule(rid, rt, params, plugin, plugin_version, roles))
    draws = [i for i, r in enumerate(compiled) if r.type.kind == "draw"]
    if draws and draws[-1] != len(compiled) - 1 or len(draws) > 1:
        node = _node_at(root, ("rules",))
        problems.append((node.start_mark.line + 1 if node else None, "rules",
                         "a plan has at most one draw rule and it must be the last rule"))
    if problems:
        raise PlanError(source, problems)
    return PlanVersion(
        name=spec.plan, version=version or spec.version or 1, period=spec.period,
        rules=tuple(compiled), effective_from=spec.effective_from,
        effective_to=spec.effective_to, quota=spec.quota, manager_quota=spec.manager_quota,
        currency=spec.currency, checksum=spec.checksum(), spec=spec,
    )


def plan_from_json(spec_json: str, version: int, rule_types: Mapping[str, RuleType] | None = None,
                   owners: Mapping[str, tuple[str, str | None]] | None = None,
                   source: str = "<stored plan>") -> PlanVersion:
    """Rebuild a stored plan version (its spec was stored as JSON with exact decimal text)."""
    data = json.loads(spec_json, parse_float=Decimal)
    data["version"] = version
    try:
        spec = PlanSpec.model_validate(data)
    except ValidationError as exc:
        raise PlanError(source, _problems(exc, None)) from exc
    return compile_plan(spec, source, None, rule_types, owners, version, check_rates=False)


def spec_to_json(spec: PlanSpec) -> str:
    return json.dumps(spec.model_dump(mode="json"), sort_keys=True)
