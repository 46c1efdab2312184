"""The KPI engine's pure processing functions.

These functions hold no I/O and no clock: the embedded runner (:mod:`attain.core.engine`) and the
Faust workers (:mod:`attain.streams`) call the very same ones, which is why both give identical
numbers.

How it works
------------
* A deal's latest snapshot *contributes* additive components (``won_revenue``, ``won``,
  ``cycle_days_sum`` …) to exactly one **cell** of a cube keyed by
  ``(owner, product, account, quarter)``.
* A newer version of the deal *retracts* the old snapshot's contribution and adds the new one
  (changelog / KTable semantics). Duplicates and stale versions change nothing, so results do not
  depend on arrival order or redelivery.
* Lead and activity events are *facts*: they happen once and never change, so a fact's
  contribution is simply added to its cell when the event is accepted (event ids are
  deduplicated, so that happens once). A fact's cell is ``(owner, "", account, quarter)`` where
  ``quarter`` is the quarter of the UTC day of ``occurred_at`` (deals use ``closed_on``); a lead has
  no account and a lead without an owner has none either ("").
* Reading KPIs rolls cells up to a grouping (rep, manager, region, product, sector, quarter …) by
  looking up reference data *at read time*, then each metric's ``compute`` turns the summed
  components into its value. Loading the roster after the deals therefore gives the same figures.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from .fx import Rates, convert_deal, convert_fact
from .models import (
    Account,
    ActivityEvent,
    CostEvent,
    CustomerEvent,
    DealEvent,
    LeadEvent,
    Product,
    Rep,
    RepEvent,
)
from .periods import naive_utc, quarter_of

_NO_OFFSET = dt.timedelta(0)

Number = Decimal | int
Components = dict[str, Decimal]
CellKey = tuple[str, str, str, str]  # owner, product, account, quarter ("" = none)

Outcome = Literal["accepted", "duplicate", "stale"]

GROUPINGS: dict[str, str] = {
    "all": "everything together (the company)",
    "rep": "the deal's (or lead's / activity's) owner",
    "manager": "the owner's manager, from the team roster",
    "region": "the owner's regional office, from the team roster",
    "product": "the deal's product",
    "series": "the product's series, from the product catalogue",
    "sector": "the account's sector, from the account list",
    "account": "the deal's (or activity's) account",
    "quarter": "the calendar quarter of closed_on, e.g. 2017-Q2 (open deals have none); "
               "for lead and activity events, of occurred_at",
    "year": "the calendar year of the KPI day (closed_on; a fact's UTC day of occurred_at)",
    "month": "the calendar month of the KPI day, e.g. 2017-07",
    "week": "the ISO week of the KPI day, e.g. 2017-W27",
    "day": "the KPI day itself, e.g. 2017-07-14",
}

ZERO = Decimal(0)
ONE = Decimal(1)


def cell_of(deal: DealEvent) -> CellKey:
    """The cube cell a deal snapshot contributes to."""
    return (deal.owner, deal.product or "", deal.account or "", quarter_of(deal.closed_on))


def day_cell(deal: DealEvent) -> tuple[str, str, str, dt.date | None]:
    """The day-level cell a deal snapshot contributes to: (owner, product, account, closed_on)."""
    return (deal.owner, deal.product or "", deal.account or "", deal.closed_on)


def fact_day_cell(event: Any) -> tuple[str, str, str, dt.date | None]:
    """The day-level cell of a fact: its owner, no product, its account and the UTC day of
    ``occurred_at`` (:func:`attain.core.periods.utc_day`: the one event-day rule)."""
    t = event.occurred_at
    if t.tzinfo is not None and t.utcoffset() != _NO_OFFSET:  # inline utc_day: once per fact
        t = t.astimezone(dt.UTC)
    return (getattr(event, "owner", None) or "", "", getattr(event, "account", None) or "",
            t.date())


Fact = LeadEvent | ActivityEvent | CustomerEvent | CostEvent | RepEvent
#: event types whose events are immutable facts that metrics may count
FACT_TYPES: tuple[str, ...] = ("lead", "activity", "customer", "cost", "rep")


def fact_cell(event: Any) -> CellKey:
    """The cube cell a fact contributes to: its owner (a rep event's rep; none for costs and
    customer events), no product, its account (activities, customer events) and the quarter
    of the UTC day of ``occurred_at`` (:func:`attain.core.periods.utc_day`: the one event-day
    rule)."""
    t = event.occurred_at
    if t.tzinfo is not None and t.utcoffset() != _NO_OFFSET:  # inline utc_day: once per fact
        t = t.astimezone(dt.UTC)
    return (getattr(event, "owner", None) or "", "", getattr(event, "account", None) or "",
            quarter_of(t.date()))


# ---------------------------------------------------------------------------------------------
# Metrics


#: ``contribute(event)``: a DealEvent, or (for metrics declaring them) a LeadEvent / ActivityEvent
Contribute = Callable[[Any], Mapping[str, Number]]
Compute = Callable[[Mapping[str, Decimal]], "Decimal | None"]


@dataclass(frozen=True)
class Metric:
    """A KPI that plugins register through ``attain_register_metrics``.

    ``contribute(deal)`` returns the deal's additive components (sparse: leave out zeros). Every
    metric registered by one plugin shares that plugin's component namespace, and metrics that
    pass the *same* ``contribute`` function share one call per event.

    ``events`` names the event types ``contribute`` takes: ``("deal",)`` (the default) for deal
    snapshots, ``"lead"`` and/or ``"activity"`` for facts (see :data:`FACT_TYPES`). ``contribute``
    is only ever called with events of those types. A fact's contribution is added once, when
    the event is accepted, to :func:`fact_cell` (whose quarter is the quarter of occurred_at).

    ``compute(sums)`` turns the components summed over a group into the metric's value, or
    ``None`` where it is undefined. ``sums`` holds every component of the plugin (missing = 0).

    ``priced`` names components that count deals whose value is the product's list price: when
    rolled up, each cell's count is multiplied by the list price of the cell's product, and
    ``compute`` receives the result as ``sums["<name>*list_price"]``.
    """

    name: str
    description: str
    contribute: Contribute
    compute: Compute
    unit: Literal["money", "count", "ratio", "days", "number"] = "number"
    priced: tuple[str, ...] = ()
    plugin: str = field(default="", compare=False)
    events: tuple[str, ...] = ("deal",)
    #: whether ``attain kpi``'s table shows it (JSON and CSV show every metric): a plugin
    #: registering many figures keeps the table readable with ``in_table=False``
    in_table: bool = True
    #: whether ``compute``'s ``sums`` also hold the core's components (those of
    #: :func:`core_contribution` and :func:`core_fact_contribution`: ``won``, ``won_revenue``,
    #: ``lost``, ``open``, ``cycle_n``, ``cycle_days`` …) as ``sums["core:<name>"]``: a figure
    #: built on them reads them there instead of its plugin contributing copies, which every
    #: KPI roll-up row would store, merge and sum again
    reads_core: bool = False


#: the prefix of the core's components in summed components (see :attr:`Metric.reads_core`)
CORE_PREFIX = "core:"


def core_components(comps: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """The core's components of summed ``comps``, prefix kept: what a ``reads_core`` metric's
    sums hold beside its own plugin's."""
    return {k: v for k, v in comps.items() if k.startswith(CORE_PREFIX)}


def quantize(value: Decimal | None, places: int) -> Decimal | None:
    """Round half-even to ``places`` decimals (the rounding every KPI uses for display)."""
    if value is None:
        return None
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def core_contribution(deal: DealEvent) -> dict[str, Number]:
    """Components of the core KPIs for one deal snapshot (a deleted deal has none)."""
    if deal.status == "deleted":
        return {}
    if deal.status == "won":
        out: dict[str, Number] = {"won": 1, "won_revenue": deal.amount or ZERO}
        if deal.engaged_on is not None and deal.closed_on is not None:
            out["cycle_n"] = 1
            out["cycle_days"] = (deal.closed_on - deal.engaged_on).days
        return out
    if deal.status == "lost":
        return {"lost": 1}
    if deal.amount is not None:
        return {"open": 1, "open_amount": deal.amount}
    if deal.product:
        return {"open": 1, "open_unpriced": 1}
    return {"open": 1}


def _ratio(num: Decimal, den: Decimal, places: int) -> Decimal | None:
    return None if den == 0 else quantize(num / den, places)


def _utc_naive(t: dt.datetime) -> dt.datetime:
    return naive_utc(t)


def _seconds(td: dt.timedelta) -> Decimal:
    """A timedelta in seconds, exactly."""
    return Decimal(td.days * 86400 + td.seconds) + Decimal(td.microseconds).scaleb(-6)


ACTIVITY_COMPONENT = {"call": "calls", "email": "emails", "meeting": "meetings", "demo": "demos"}
LEAD_COMPONENT = {"created": "leads_created", "mql": "mqls", "sal": "sals", "sql": "sqls",
                  "converted": "leads_converted", "disqualified": "leads_disqualified"}


def core_fact_contribution(event: Fact) -> dict[str, Number]:
    """Components of the core lead and activity KPIs for one fact (enablement activities,
    ``coaching`` …, are not selling activities: their metrics are the kpis plugin's)."""
    if isinstance(event, ActivityEvent):
        comp = ACTIVITY_COMPONENT.get(event.kind)
        return {} if comp is None else {comp: 1, "activities": 1}
    if not isinstance(event, LeadEvent):
        return {}
    out: dict[str, Number] = {LEAD_COMPONENT[event.kind]: 1}
    if event.first_response_at is not None:
        # Naive times are taken as UTC (as everywhere in the store).
        delay = _utc_naive(event.first_response_at) - _utc_naive(event.occurred_at)
        out["first_response_n"] = 1
        out["first_response_seconds"] = _seconds(delay)
    return out


def _count(component: str) -> Compute:
    return lambda s: s.get(component, ZERO)


def _avg_first_response_hours(s: Mapping[str, Decimal]) -> Decimal | None:
    n = s.get("first_response_n", ZERO)
    return None if n == 0 else quantize(s.get("first_response_seconds", ZERO) / (n * 3600), 2)


CORE_METRICS: tuple[Metric, ...] = (
    Metric("won_revenue", "Σ amount of won deals", core_contribution,
           lambda s: s.get("won_revenue", ZERO), "money"),
    Metric("won_deals", "number of won deals", core_contribution,
           lambda s: s.get("won", ZERO), "count"),
    Metric("lost_deals", "number of lost deals", core_contribution,
           lambda s: s.get("lost", ZERO), "count"),
    Metric("open_deals", "number of open deals", core_contribution,
           lambda s: s.get("open", ZERO), "count"),
    Metric("win_rate", "won / (won + lost); null without closed deals; 4 decimals",
           core_contribution,
           lambda s: _ratio(s.get("won", ZERO), s.get("won", ZERO) + s.get("lost", ZERO), 4),
           "ratio"),
    Metric("avg_deal_size", "won_revenue / won_deals; null without won deals; cents",
           core_contribution,
           lambda s: _ratio(s.get("won_revenue", ZERO), s.get("won", ZERO), 2), "money"),
    Metric("avg_cycle_days",
           "mean of closed_on − engaged_on in days over won deals with both dates; 2 decimals",
           core_contribution,
           lambda s: _ratio(s.get("cycle_days", ZERO), s.get("cycle_n", ZERO), 2), "days"),
    Metric("pipeline_value",
           "Σ over open deals of amount, or the product's list price when amount is null "
           "and the product is known",
           core_contribution,
           lambda s: s.get("open_amount", ZERO) + s.get("open_unpriced*list_price", ZERO),
           "money", priced=("open_unpriced",)),
    # -- activities and leads (facts, attributed to the quarter of occurred_at) --
    *(Metric(name, f"number of {kind} activities", core_fact_contribution, _count(name), "count",
             events=("activity",))
      for kind, name in ACTIVITY_COMPONENT.items()),
    Metric("activities", "number of activities (calls, emails, meetings and demos)",
           core_fact_contribution, _count("activities"), "count", events=("activity",)),
    *(Metric(name, f"number of lead events of kind {kind!r}", core_fact_contribution,
             _count(name), "count", events=("lead",))
      for kind, name in LEAD_COMPONENT.items()),
    Metric("avg_first_response_hours",
           "mean hours from occurred_at to first_response_at over lead events that carry "
           "first_response_at; null without any; 2 decimals",
           core_fact_contribution, _avg_first_response_hours, "number", events=("lead",)),
)


# ---------------------------------------------------------------------------------------------
# Processing


class Contributor:
    """Evaluates every metric's ``contribute`` for an event, once per distinct function, calling
    only the functions whose metrics declare the event's type (:attr:`Metric.events`).

    ``on_error(plugin, exc)`` is called when a plugin's function raises; that plugin's components
    are then left out for this event (and the failure is counted by the caller).
    """

    def __init__(
        self,
        metrics: Iterable[Metric],
        on_error: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        seen: dict[str, dict[int, tuple[str, Contribute]]] = {}
        metrics_list = list(metrics)
        for m in metrics_list:
            for t in m.events:
                seen.setdefault(t, {}).setdefault(id(m.contribute), (m.plugin, m.contribute))
        self._by_type = {t: list(fns.values()) for t, fns in seen.items()}
        self._fns = self._by_type.get("deal", [])
        #: the components (``plugin:name``) that some metric prices by the product's list price
        self.priced: frozenset[str] = frozenset(f"{m.plugin}:{p}" for m in metrics_list
                                                for p in m.priced)
        #: the non-deal event types some metric takes
        self.fact_types: tuple[str, ...] = tuple(sorted(t for t in self._by_type if t != "deal"))
        self._on_error = on_error
        self.rates: Rates | None = None

    def with_rates(self, rates: Rates) -> Contributor:
        """This contributor for a tenant with ``rates``: every deal's amount is converted to
        the reporting currency first (:func:`attain.core.fx.convert_deal`); a deal whose amount
        has no rate contributes only ``core:unconverted:<CUR>`` (1), to no other figure."""
        c = copy.copy(self)
        c.rates = rates
        return c

    def __call__(self, event: Any) -> Components:
        if type(event) is DealEvent:
            if event.status == "deleted":  # a deleted deal leaves every metric, the plugins' too
                return {}
            rates = self.rates
            if rates is not None and event.currency != rates.reporting:
                event, unconverted = convert_deal(event, rates)
                if unconverted is not None:
                    return {f"core:unconverted:{unconverted}": ONE}
            fns = self._fns
        else:
            rates = self.rates
            if rates is not None and getattr(event, "currency", rates.reporting) != rates.reporting:
                event, unconverted = convert_fact(event, rates)
                if unconverted is not None:
                    return {f"core:unconverted_{event.type}:{unconverted}": ONE}
            fns = self._by_type.get(event.type, [])
        out: Components = {}
        for plugin, fn in fns:
            try:
                part = fn(event)
            except Exception as exc:  # a plugin failure is isolated, reported and counted
                if self._on_error is None:
                    raise
                self._on_error(plugin, exc)
                continue
            for k, v in part.items():
                key = f"{plugin}:{k}"
                out[key] = out.get(key, ZERO) + v
        return out


def add_into(target: dict[Any, Components], cell: Any, comps: Mapping[str, Number],
             sign: int = 1) -> None:
    """``target[cell] += sign * comps`` (component-wise, exact)."""
    acc = target.setdefault(cell, {})
    for k, v in comps.items():
        acc[k] = acc.get(k, ZERO) + (v if sign > 0 else -v)


def classify(event_seen: bool, stored_version: int | None, version: int) -> Outcome:
    """What to do with a deal event: an id already seen is a duplicate; a version that is not
    newer than the stored one is stale; anything else is accepted."""
    if event_seen:
        return "duplicate"
    if stored_version is not None and version <= stored_version:
        return "stale"
    return "accepted"


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass
class Dimensions:
    """Reference data used to group cells when KPIs are read."""

    reps: dict[str, Rep] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    products: dict[str, Product] = field(default_factory=dict)

    def group_key(self, grouping: str, cell: CellKey) -> str | None:
        owner, product, account, quarter = cell
        if grouping == "all":
            return "all"
        if grouping == "rep":
            return owner or None  # a lead without an owner
        if grouping == "manager":
            rep = self.reps.get(owner)
            return rep.manager if rep else None
        if grouping == "region":
            rep = self.reps.get(owner)
            return rep.region if rep else None
        if grouping == "product":
            return product or None
        if grouping == "series":
            p = self.products.get(product)
            return p.series if p else None
        if grouping == "account":
            return account or None
        if grouping == "sector":
            a = self.accounts.get(account)
            return a.sector if a else None
        if grouping == "quarter":
            return quarter or None
        raise ValueError(f"unknown grouping {grouping!r}; choose one of {', '.join(GROUPINGS)}")


def rollup(
    cells: Mapping[CellKey, Mapping[str, Decimal]],
    grouping: str,
    dims: Dimensions,
    metrics: Iterable[Metric],
) -> list[dict[str, object]]:
    """KPI rows for ``grouping``, sorted by won_revenue (then key) descending.

    Each row is ``{"key": ..., <metric>: value, ...}``; values are Decimal or None. Cells whose
    group is unknown (an open deal has no quarter, a rep missing from the roster has no region)
    are gathered under the key ``None``.
    """
    metrics = list(metrics)
    if grouping not in GROUPINGS:
        raise ValueError(f"unknown grouping {grouping!r}; choose one of {', '.join(GROUPINGS)}")
    priced = {f"{m.plugin}:{p}" for m in metrics for p in m.priced}
    sums: dict[str | None, dict[str, Decimal]] = defaultdict(dict)
    for cell, comps in cells.items():
        if not any(comps.values()):  # every deal moved away from this cell: it is no group
            continue
        key = dims.group_key(grouping, cell)
        acc = sums[key]
        for k, v in comps.items():
            acc[k] = acc.get(k, ZERO) + v
            if k in priced:
                prod = dims.products.get(cell[1])
                if prod is not None and prod.list_price is not None:
                    pk = f"{k}*list_price"
                    acc[pk] = acc.get(pk, ZERO) + v * prod.list_price
    rows: list[dict[str, object]] = []
    for key, comp in sums.items():
        row: dict[str, object] = {"key": key}
        for m in metrics:
            prefix = f"{m.plugin}:"
            local = {k[len(prefix):]: v for k, v in comp.items() if k.startswith(prefix)}
            if m.reads_core:
                local |= core_components(comp)
            row[m.name] = _normalize(m.compute(local))
        rows.append(row)

    def sort_key(r: dict[str, object]) -> tuple[Decimal, str]:
        rev = r.get("won_revenue")
        return (rev if isinstance(rev, Decimal) else ZERO, str(r["key"] or ""))

    rows.sort(key=sort_key, reverse=True)
    return rows


def _normalize(v: Decimal | int | None) -> Decimal | None:
    if v is None:
        return None
    d = v if type(v) is Decimal else Decimal(v)
    # Integral values print as integers (12 rather than 12.000000).
    if d == d.to_integral_value():
        return d.quantize(ONE)
    return d.normalize()  # the same value prints the same, whatever history summed to it


def kpi_rows(
    deals: Iterable[DealEvent],
    facts: Iterable[Fact],
    dims: Dimensions,
    metrics: Iterable[Metric],
    grouping: str | Sequence[str],
    where: Callable[[Any], bool] | None = None,
    contribute: Callable[[Any], Mapping[str, Number]] | None = None,
) -> list[dict[str, object]]:
    """KPI rows of ``grouping`` (one, or several: see :meth:`Engine.kpis`) over the given deal
    snapshots and facts (those ``where`` keeps): the pure function behind :meth:`attain.core.engine.Engine.kpis_where`.

    ``deals`` are latest snapshots (one per deal), ``facts`` lead and activity events;
    ``contribute`` defaults to a :class:`Contributor` of ``metrics``. A caller holding snapshots
    in memory (the goals plugin evaluating many goals over one read) gets exactly the figures
    of :meth:`~attain.core.engine.Engine.kpis` on the same events.
    """
    from .rollups import cell_rows, parse_groupings  # the roll-up module builds on this one

    shown = list(metrics)
    groups = parse_groupings(grouping)
    fn = contribute if contribute is not None else Contributor(shown)
    fact_types = {t for m in shown for t in m.events if t != "deal"}
    cells: dict[Any, Components] = {}
    for d in deals:
        if where is None or where(d):
            add_into(cells, day_cell(d), fn(d))
    if fact_types:
        for f in facts:
            if f.type in fact_types and (where is None or where(f)):
                comps = fn(f)
                if comps:
                    add_into(cells, fact_day_cell(f), comps)
    return cell_rows(cells, groups, dims, shown)
