"""The maturity model: levels, criteria (the protocol partners implement) and what a criterion
measured.

A criterion is registered through ``attain_register_maturity_criteria`` (:mod:`.hookspecs`):
any object with the attributes of :class:`Criterion` will do (:func:`as_criterion` reads them
with defaults and checks them). A *measured* criterion has ``measure(data)`` — ``data`` is the
tenant's :class:`~attain.plugins.maturity.data.TenantData` as of the assessment's day — and
returns a :class:`Measurement`. An *answered* criterion has a ``question`` asked by
``attain maturity questionnaire``; ``checked_by`` names a measured criterion that can contradict
a "yes".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .data import TenantData

Evidence = Literal["measured", "answered"]
EVIDENCE: tuple[str, ...] = ("measured", "answered")


class MaturityError(ValueError):
    """A problem the user can fix (a bad answers file, an invalid criterion)."""


@dataclass(frozen=True)
class Level:
    number: int
    name: str
    description: str


#: the five levels of the bundled model (docs/maturity.md)
LEVELS: tuple[Level, ...] = (
    Level(1, "Ad hoc", "no shared definitions; deals tracked in spreadsheets or not at all"),
    Level(2, "Defined", "a CRM in use for every deal; a documented sales process (stages); basic KPIs"),
    Level(3, "Implemented", "marketing and sales agree on lead quality definitions (MQL → SAL → SQL "
          "recorded); a sales methodology applied consistently (stage history for most deals)"),
    Level(4, "Managed", "conversion tracked at every funnel stage; marketing-sourced revenue "
          "measured; a trained team; high CRM adoption; the CRM used for analysis (goals)"),
    Level(5, "Predictable & optimised", "sales and marketing share goals; the compensation plan "
          "counts funnel goals; campaign ROI measured; forecasts from history, accuracy tracked"),
)


@dataclass(frozen=True)
class Measurement:
    """What a measured criterion found.

    * ``met`` — whether the criterion is satisfied;
    * ``value`` — the headline figure (a number, a count, a small mapping; JSON-serialisable);
    * ``detail`` — one sentence with the numbers used;
    * ``numbers`` — every figure the decision used (for the JSON output and history);
    * ``recommendation`` — what to do when it is not met, specific and measured;
    * ``no_data`` — the evidence does not exist (e.g. the event model has no cost events yet).
    """

    met: bool
    value: Any
    detail: str
    numbers: Mapping[str, Any] = field(default_factory=dict)
    recommendation: str | None = None
    no_data: bool = False


Measure = Callable[["TenantData"], Measurement]


@dataclass(frozen=True)
class Criterion:
    """One criterion of a level (the protocol: a partner's object needs ``name``,
    ``description``, ``level`` and ``measure`` or ``question``; the rest has defaults)."""

    name: str
    description: str
    level: int
    evidence: Evidence = "measured"
    weight: Decimal = Decimal(1)
    required: bool = True
    measure: Measure | None = None
    question: str | None = None
    checked_by: str | None = None
    recommendation: str | None = None
    replaces: str | None = None
    plugin: str = ""

    def measure_on(self, data: TenantData) -> Measurement:
        if self.measure is None:  # pragma: no cover - as_criterion refuses it
            raise MaturityError(f"criterion {self.name!r} has no measure")
        return self.measure(data)


def as_criterion(obj: Any, plugin: str = "", levels: Sequence[Level] = LEVELS) -> Criterion:
    """A registered object as a checked :class:`Criterion` (attributes read with defaults)."""
    name = getattr(obj, "name", None)
    where = f"plugin {plugin!r}: maturity criterion {name!r}"
    numbers = {lv.number for lv in levels}
    level = getattr(obj, "level", None)
    if not isinstance(level, int) or level not in numbers:
        raise MaturityError(f"{where}: level must be one of {sorted(numbers)}, got {level!r}")
    evidence: Evidence = getattr(obj, "evidence", "measured")
    if evidence not in EVIDENCE:
        raise MaturityError(f"{where}: evidence must be 'measured' or 'answered', got {evidence!r}")
    try:
        weight = Decimal(str(getattr(obj, "weight", 1)))
    except ArithmeticError:
        raise MaturityError(f"{where}: weight must be a number") from None
    if not weight.is_finite() or weight <= 0:
        raise MaturityError(f"{where}: weight must be a positive number, got {weight}")
    measure = getattr(obj, "measure", None)
    question = getattr(obj, "question", None)
    if evidence == "measured" and not callable(measure):
        raise MaturityError(f"{where}: a measured criterion needs measure(data)")
    if evidence == "answered" and not (isinstance(question, str) and question.strip()):
        raise MaturityError(f"{where}: an answered criterion needs a question")
    return Criterion(
        name=str(name), description=str(getattr(obj, "description", "") or ""), level=level,
        evidence=evidence, weight=weight, required=bool(getattr(obj, "required", True)),
        measure=measure if callable(measure) else None, question=question,
        checked_by=getattr(obj, "checked_by", None),
        recommendation=getattr(obj, "recommendation", None),
        replaces=getattr(obj, "replaces", None), plugin=plugin)


@dataclass(frozen=True)
class MaturityModel:
    """A model: its levels and, optionally, its own criteria.

    Registered through ``attain_register_maturity_models``. ``criteria=None`` means the
    registered criteria (``attain_register_maturity_criteria``); a partner replacing the whole
    model passes their own.
    """

    name: str
    description: str
    levels: tuple[Level, ...] = LEVELS
    criteria: tuple[Any, ...] | None = None


#: the bundled model
STANDARD = MaturityModel("standard", "Attain's five-level sales & marketing maturity model")


def resolve_criteria(registered: Mapping[str, tuple[Any, str]], model: MaturityModel
                     ) -> list[Criterion]:
    """The model's checked criteria, ordered by level then name. ``registered`` maps a name to
    ``(object, plugin)``; a criterion with ``replaces`` takes the place of the one it names."""
    if model.criteria is not None:
        items = [(c, getattr(c, "plugin", "") or model.name) for c in model.criteria]
    else:
        items = list(registered.values())
    crits = [as_criterion(obj, plugin, model.levels) for obj, plugin in items]
    renamed = {c.replaces: c.name for c in crits if c.replaces}
    out = [replace(c, checked_by=renamed.get(c.checked_by, c.checked_by) if c.checked_by else None)
           for c in crits if c.name not in renamed]
    names = {c.name for c in out}
    for c in out:
        if c.checked_by is not None and c.checked_by not in names:
            raise MaturityError(f"plugin {c.plugin!r}: maturity criterion {c.name!r} is checked by "
                                f"{c.checked_by!r}, which is not a criterion of model {model.name!r}")
    return sorted(out, key=lambda c: (c.level, c.evidence != "measured", c.name))
