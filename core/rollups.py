"""KPI roll-ups: the pure functions behind the read path (no I/O, no clock).

Every contribution (a deal snapshot's, a fact's) is attributed to one **KPI day** or to none: a
deal's ``closed_on`` (open deals have none), a fact's UTC day of ``occurred_at``
(:func:`attain.core.periods.utc_day`). The store keeps, per tenant, the components summed per

    (dim, name, grain, period)

* ``dim``: ``all``, ``rep`` (owner), ``product``, ``account``; ``name`` the rep's, product's or
  account's name (``""`` for ``all`` and for none: a lead without owner, a deal without product);
* ``grain``: ``total``, ``year``, ``quarter``, ``month``, ``week`` (ISO), ``day`` (``account``:
  ``total`` … ``month`` only); ``period`` its label (``2017``, ``2017-Q3``, ``2017-07``,
  ``2017-W27``, ``2017-07-14``), ``""`` for ``total`` and for contributions without a day (those
  are in every grain under ``""``).

Reference data is not in the roll-ups: manager/region are resolved at read time from the rep
roll-ups, series from product roll-ups, sector from account roll-ups, so loading a roster later
regroups every figure. A *priced* component (:attr:`Metric.priced`) is kept per product in the
dims other than ``product`` (``"<plugin>:<name>\\x1f<product>"``) so a read multiplies each by its
product's list price of that moment.

:func:`group_rows` turns summed components into KPI rows; the fast path (roll-up rows) and the
scan path (:func:`cell_rows` over day-level cells from deals and facts) both end there, so both
give the same figures.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from functools import lru_cache

from .kpi import GROUPINGS, Components, Dimensions, Metric, _normalize, core_components
from .periods import Period, PeriodError, _calendar, parse_period

ZERO = Decimal(0)
PSEP = "\x1f"  # between a priced component and its product

#: (owner, product, account, KPI day or None)
DayCell = tuple[str, str, str, dt.date | None]
#: (dim, name, grain, period)
RollKey = tuple[str, str, str, str]

DIMS = ("all", "rep", "product", "account")
TIME_GRAINS = ("year", "quarter", "month", "week", "day")
GRAINS: dict[str, tuple[str, ...]] = {
    "all": ("total", *TIME_GRAINS), "rep": ("total", *TIME_GRAINS),
    "product": ("total", *TIME_GRAINS), "account": ("total", "year", "quarter", "month"),
}
#: the base dim each attribute grouping reads
BASE: dict[str, str] = {"all": "all", "rep": "rep", "manager": "rep", "region": "rep",
                        "product": "product", "series": "product", "account": "account",
                        "sector": "account"}


class GroupingError(ValueError):
    """A grouping, period or metric that cannot be read."""


# -- periods ------------------------------------------------------------------------------------


@lru_cache(maxsize=1 << 16)
def day_labels(day: dt.date) -> tuple[str, str, str, str, str]:
    """``(year, quarter, month, ISO week, day)`` labels of a day."""
    y, m = day.year, day.month
    iso = day.isocalendar()
    return (str(y), f"{y}-Q{(m - 1) // 3 + 1}", f"{y}-{m:02d}", f"{iso[0]}-W{iso[1]:02d}",
            day.isoformat())


def label_of(grain: str, day: dt.date | None) -> str | None:
    """The period label of ``day`` in ``grain`` (None without a day)."""
    if day is None:
        return None
    return day_labels(day)[TIME_GRAINS.index(grain)]


def _iso_week(year: int, week: int) -> Period:
    start = dt.date.fromisocalendar(year, week, 1)
    return Period(start, start + dt.timedelta(days=6), f"{year}-W{week:02d}", "custom")


def parse_read_period(value: object) -> Period:
    """A period of a KPI read: anything :func:`attain.core.periods.parse_period` reads, an ISO
    week ``2017-W27`` or a day ``2017-07-14``."""
    if isinstance(value, Period):
        return value
    text = str(value).strip()
    if len(text) == 8 and text[4:6].upper() == "-W" and text[:4].isdigit() and text[6:].isdigit():
        try:
            return _iso_week(int(text[:4]), int(text[6:]))
        except ValueError:
            raise PeriodError(f"period {text!r}: no such ISO week") from None
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        try:
            d = dt.date.fromisoformat(text)
        except ValueError:
            raise PeriodError(f"period {text!r} is not a date") from None
        return Period(d, d, text, "custom")
    return parse_period(text)


def _bucket(grain: str, day: dt.date) -> Period:
    """The ``grain`` period containing ``day``."""
    if grain == "year":
        return _calendar("year", day.year, 1)
    if grain == "quarter":
        return _calendar("quarter", day.year, (day.month - 1) // 3 + 1)
    if grain == "month":
        return _calendar("month", day.year, day.month)
    if grain == "week":
        iso = day.isocalendar()
        return _iso_week(iso[0], iso[1])
    return Period(day, day, day.isoformat(), "custom")


def tiles(start: dt.date, end: dt.date, grains: Sequence[str]) -> list[tuple[str, str]] | None:
    """Few whole ``(grain, label)`` tiles (years, quarters, months, then ISO weeks inside a month
    and days at the edges) covering ``start..end`` exactly once; None when ``grains`` cannot
    cover it (no day grain at a ragged edge)."""
    out: list[tuple[str, str]] = []
    d = start
    while d <= end:
        month_end = _bucket("month", d).end
        for g in ("year", "quarter", "month", "week", "day"):
            if g not in grains:
                continue
            p = _bucket(g, d)
            # a week only inside one month, so the whole months after it stay whole tiles
            if p.start == d and p.end <= end and (g != "week" or p.end <= month_end):
                out.append((g, p.label))
                d = p.end + dt.timedelta(days=1)
                break
        else:
            return None
    return out


def plan_tiles(grain: str | None, period: Period | None, grains: Sequence[str]
               ) -> dict[tuple[str, str | None], str | None] | None:
    """What to read for a time grouping ``grain`` (None: none) within ``period`` (None: all time).

    Returns ``{(stored grain, stored period or None = every period): the group's time label}``
    (``None`` as the label when there is no time grouping; ``"*"``: the stored period itself);
    None when these roll-ups cannot answer (the scan path must).
    """
    if period is None:
        if grain is None:
            return {("total", ""): None}
        if grain not in grains:
            return None
        return {(grain, None): "*"}
    if grain is None:
        t = tiles(period.start, period.end, grains)
        return None if t is None else dict.fromkeys(t)
    if grain not in grains:
        return None
    out: dict[tuple[str, str | None], str | None] = {}
    d = period.start
    while d <= period.end:
        b = _bucket(grain, d)
        lo, hi = max(b.start, period.start), min(b.end, period.end)
        if (lo, hi) == (b.start, b.end):
            out[(grain, b.label)] = b.label
        else:
            t = tiles(lo, hi, grains)
            if t is None:
                return None
            out.update(dict.fromkeys(t, b.label))
        d = b.end + dt.timedelta(days=1)
    return out


# -- writing: day-level cells → roll-up deltas ----------------------------------------------------


def add_comps(target: dict[tuple[str, object], Components], key: tuple[str, object],
              comps: Mapping[str, Decimal | int]) -> None:
    acc = target.get(key)
    if acc is None:
        target[key] = dict(comps)  # type: ignore[arg-type]
        return
    for k, v in comps.items():
        acc[k] = acc.get(k, ZERO) + v


def _priced_per_product(comps: Mapping[str, Decimal], product: str,
                        priced: frozenset[str]) -> Mapping[str, Decimal]:
    if not priced or not any(k in priced for k in comps):
        return comps
    return {(f"{k}{PSEP}{product}" if k in priced else k): v for k, v in comps.items()}


def expand(cells: Mapping[DayCell, Mapping[str, Decimal]], priced: frozenset[str] = frozenset(),
           grains: Mapping[str, tuple[str, ...]] = GRAINS) -> dict[RollKey, Components]:
    """The roll-up deltas of day-level cell deltas: every cell into its rep, product, account and
    ``all`` rows at every grain (summed bottom-up: days → months → quarters → years → total)."""
    by_dim: dict[str, dict[tuple[str, object], Components]] = {d: {} for d in DIMS}
    rep, prod, acct, every = by_dim["rep"], by_dim["product"], by_dim["account"], by_dim["all"]
    for (owner, product, account, day), comps in cells.items():
        if not comps or not any(comps.values()):  # retracted and added again unchanged
            continue
        flat = _priced_per_product(comps, product, priced)
        for target, key, c in ((rep, (owner, day), flat), (prod, (product, day), comps),
                               (acct, (account, day), flat)):
            acc = target.get(key)
            if acc is None:
                target[key] = dict(c)
            else:
                for k, v in c.items():
                    acc[k] = acc.get(k, ZERO) + v
    for (product, pday), comps in prod.items():  # all = Σ products (fewer entries than cells)
        add_comps(every, ("", pday), _priced_per_product(comps, product, priced))
    out: dict[RollKey, Components] = {}
    for dim, level in by_dim.items():
        _grains(dim, level, grains[dim], out)
    return out


def _grains(dim: str, days: dict[tuple[str, object], Components], grains: tuple[str, ...],
            out: dict[RollKey, Components]) -> None:
    months: dict[tuple[str, object], Components] = {}
    undated: dict[str, Components] = {}
    want_day, want_week = "day" in grains, "week" in grains
    for (name, day), comps in days.items():
        if day is None:
            undated[name] = comps
            continue
        labels = day_labels(day)  # type: ignore[arg-type]
        if want_day:
            out[(dim, name, "day", labels[4])] = comps
        if want_week:
            add_comps(out, (dim, name, "week", labels[3]), comps)  # type: ignore[arg-type]
        add_comps(months, (name, labels[2]), comps)
    quarters: dict[tuple[str, object], Components] = {}
    for (name, m), comps in months.items():
        out[(dim, name, "month", m)] = comps  # type: ignore[index]
        ms = str(m)
        add_comps(quarters, (name, f"{ms[:4]}-Q{(int(ms[5:]) - 1) // 3 + 1}"), comps)
    years: dict[tuple[str, object], Components] = {}
    for (name, q), comps in quarters.items():
        out[(dim, name, "quarter", q)] = comps  # type: ignore[index]
        add_comps(years, (name, str(q)[:4]), comps)
    totals: dict[tuple[str, object], Components] = {}
    for (name, y), comps in years.items():
        out[(dim, name, "year", y)] = comps  # type: ignore[index]
        add_comps(totals, (name, ""), comps)
    for name, comps in undated.items():
        for g in grains:
            if g != "total":
                out[(dim, name, g, "")] = comps
        add_comps(totals, (name, ""), comps)
    for (name, _), comps in totals.items():
        out[(dim, name, "total", "")] = comps


# -- reading: components → KPI rows ---------------------------------------------------------------


def parse_groupings(by: str | Sequence[str]) -> list[str]:
    """``"region,quarter"`` or ``["region", "quarter"]`` → the list of groupings (checked)."""
    parts = [p.strip() for p in by.split(",")] if isinstance(by, str) else [str(p).strip() for p in by]
    parts = [p for p in parts if p]
    if not parts:
        raise GroupingError(f"no grouping; choose from {', '.join(GROUPINGS)}")
    for p in parts:
        if p not in GROUPINGS:
            raise GroupingError(f"unknown grouping {p!r}; choose from {', '.join(GROUPINGS)}")
    if len(set(parts)) != len(parts):
        raise GroupingError(f"grouping {','.join(parts)!r} names a grouping twice")
    if sum(p in TIME_GRAINS for p in parts) > 1:
        raise GroupingError(f"grouping {','.join(parts)!r} has more than one time grouping")
    return parts


def pick_metrics(metrics: Iterable[Metric], names: Sequence[str] | None,
                 also: Iterable[str] = ()) -> list[Metric]:
    """The metrics named (in that order), or all of them (``also``: other names a read knows,
    e.g. period metrics', listed in the error)."""
    shown = list(metrics)
    if names is None:
        return shown
    by_name = {m.name: m for m in shown}
    missing = [n for n in names if n not in by_name]
    if missing:
        known = [*by_name, *also]
        raise GroupingError(f"unknown metric {', '.join(map(repr, missing))}; choose from "
                            f"{', '.join(known)}")
    return [by_name[n] for n in dict.fromkeys(names)]


def attribute(grouping: str, dims: Dimensions, dim: str, name: str) -> str | None:
    """The group of a roll-up row of ``dim``/``name`` in an attribute grouping (rep … sector):
    the same attribution as every other read (:meth:`Dimensions.group_key` of the row's cell)."""
    if grouping == "all":
        return "all"
    if BASE.get(grouping) != dim or dim not in _CELL_SLOT:
        raise GroupingError(f"grouping {grouping!r} is not read from the {dim} roll-ups")
    cell = ["", "", "", ""]
    cell[_CELL_SLOT[dim]] = name
    return dims.group_key(grouping, (cell[0], cell[1], cell[2], cell[3]))


#: where a base dim's name sits in a KPI cell (owner, product, account, quarter)
_CELL_SLOT = {"rep": 0, "product": 1, "account": 2}


def fast_dim(groupings: Sequence[str]) -> str | None:
    """The one base dim the attribute groupings read (``all`` when none), or None when they span
    several (rep × product …: the scan path)."""
    dims = {BASE[g] for g in groupings if g in BASE and g != "all"}
    if len(dims) > 1:
        return None
    return dims.pop() if dims else "all"


def add_priced(acc: Components, comps: Mapping[str, Decimal], dims: Dimensions,
               product: str | None, priced: frozenset[str]) -> None:
    """``acc += comps``, a priced component also into ``<name>*list_price`` (at the list price of
    its product: ``product``, or the one in its key)."""
    for k, v in comps.items():
        if PSEP in k:
            k, prod = k.split(PSEP, 1)
        else:
            prod = product or ""
        acc[k] = acc.get(k, ZERO) + v
        if k in priced:
            p = dims.products.get(prod)
            if p is not None and p.list_price is not None:
                pk = f"{k}*list_price"
                acc[pk] = acc.get(pk, ZERO) + v * p.list_price


#: component name → (plugin, name without the prefix); the names are a small fixed set
_SPLIT: dict[str, tuple[str, str]] = {}


def _split_name(k: str) -> tuple[str, str]:
    plugin, _, name = k.partition(":")
    return plugin, name


def finish(sums: Mapping[object, Mapping[str, Decimal]], metrics: Sequence[Metric],
           composite: bool) -> list[dict[str, object]]:
    """KPI rows of summed components per group, sorted by won_revenue (then key) descending;
    ``key`` is the group (a list of the groups for several groupings)."""
    rows: list[dict[str, object]] = []
    empty: dict[str, Decimal] = {}
    for key, comp in sums.items():
        row: dict[str, object] = {"key": list(key) if composite else key}  # type: ignore[call-overload]
        local: dict[str, dict[str, Decimal]] = {}  # per plugin: its components without the prefix
        for k, v in comp.items():
            split = _SPLIT.get(k)
            if split is None:
                split = _SPLIT[k] = _split_name(k)
            plugin, name = split
            d = local.get(plugin)
            if d is None:
                d = local[plugin] = {}
            d[name] = v
        with_core: dict[str, Decimal] | None = None  # (built for the first metric asking)
        for m in metrics:
            sums_m = local.get(m.plugin, empty)
            if m.reads_core:
                if with_core is None:
                    with_core = core_components(comp)
                sums_m = {**with_core, **sums_m}
            row[m.name] = _normalize(m.compute(sums_m))
        rows.append(row)

    def sort_key(r: dict[str, object]) -> tuple[Decimal, str]:
        rev = r.get("won_revenue")
        k = r["key"]
        text = "\x00".join("" if x is None else str(x) for x in k) if isinstance(k, list) else str(k or "")
        return (rev if isinstance(rev, Decimal) else ZERO, text)

    rows.sort(key=sort_key, reverse=True)
    return rows


def priced_of(metrics: Iterable[Metric]) -> frozenset[str]:
    return frozenset(f"{m.plugin}:{p}" for m in metrics for p in m.priced)


def rollup_rows(rows: Iterable[tuple[str, str, str, Mapping[str, Decimal]]], dim: str,
                groupings: Sequence[str], plan: Mapping[tuple[str, str | None], str | None],
                dims: Dimensions, metrics: Sequence[Metric]) -> list[dict[str, object]]:
    """KPI rows from roll-up rows ``(name, grain, period, components)`` of ``dim`` read per
    ``plan`` (:func:`plan_tiles`)."""
    return finish(rollup_sums(rows, dim, groupings, plan, dims, metrics), metrics, len(groupings) > 1)


def rollup_sums(rows: Iterable[tuple[str, str, str, Mapping[str, Decimal]]], dim: str,
                groupings: Sequence[str], plan: Mapping[tuple[str, str | None], str | None],
                dims: Dimensions, metrics: Sequence[Metric]) -> dict[object, Components]:
    """The summed components per group of :func:`rollup_rows` (before the metrics)."""
    priced = priced_of(metrics)
    composite = len(groupings) > 1
    sums: dict[object, Components] = {}
    for name, grain, period, comps in rows:
        if not any(comps.values()):  # every deal moved away: no group
            continue
        t = plan.get((grain, None), plan.get((grain, period)))
        tlabel = (period or None) if t == "*" else t
        parts = tuple(tlabel if g in TIME_GRAINS else attribute(g, dims, dim, name)
                      for g in groupings)
        key: object = parts if composite else parts[0]
        acc = sums.get(key)
        if acc is None:
            acc = sums[key] = {}
        add_priced(acc, comps, dims, name if dim == "product" else None, priced)
    return sums


def cell_group(groupings: Sequence[str], dims: Dimensions) -> Callable[[DayCell], object]:
    """The group of a day-level cell (the scan path)."""
    def one(g: str, cell: DayCell) -> str | None:
        owner, product, account, day = cell
        if g in TIME_GRAINS:
            return label_of(g, day)
        base = BASE[g]
        name = {"all": "", "rep": owner, "product": product, "account": account}[base]
        return attribute(g, dims, base, name)

    if len(groupings) == 1:
        g0 = groupings[0]
        return lambda c: one(g0, c)
    return lambda c: tuple(one(g, c) for g in groupings)


def cell_rows(cells: Mapping[DayCell, Mapping[str, Decimal]], groupings: Sequence[str],
              dims: Dimensions, metrics: Sequence[Metric]) -> list[dict[str, object]]:
    """KPI rows over day-level cells (the scan path): the same figures as :func:`rollup_rows`."""
    priced = priced_of(metrics)
    group = cell_group(groupings, dims)
    sums: dict[object, Components] = {}
    for cell, comps in cells.items():
        if not any(comps.values()):
            continue
        key = group(cell)
        acc = sums.get(key)
        if acc is None:
            acc = sums[key] = {}
        add_priced(acc, comps, dims, cell[1], priced)
    return finish(sums, metrics, len(groupings) > 1)
