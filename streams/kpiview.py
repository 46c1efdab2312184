"""KPI rows of the groups a batch touched, read from the committed roll-ups.

A batch's :attr:`~attain.core.Result.changed_cells` are the KPI roll-up rows it changed:
``(dim, name, grain, period)`` (see :mod:`attain.core.rollups`). A round reads back, from the
committed store, only what the touched groups need:

* a rep, product or account grouping: the ``total`` rows of the touched names;
* manager, region, series, sector: the ``total`` rows of the members of the touched groups (a
  manager's group is its reps, resolved through the reference data of that moment, as every read
  does); when a touched name is in no group (the ungrouped row: names the reference data does
  not place), every ``total`` row of the base dim;
* ``all`` and the time groupings (year, quarter, month, week, day): the ``all`` rows of the
  touched periods.

Nothing is kept between rounds, so the rows are exact whoever else writes to the tenant (another
worker, a rebuild): they are the committed state, computed by the same functions as
:meth:`attain.core.Engine.kpis`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from attain.core.kpi import GROUPINGS, Dimensions, Metric
from attain.core.rollups import BASE, TIME_GRAINS, add_priced, attribute, finish, priced_of, rollup_rows, rollup_sums
from attain.core.store import fetch_all, read_rollups
from sqlalchemy.engine import Engine as SqlEngine

Row = dict[str, object]
RollKey = tuple[str, str, str, str]


def _names_of(dims: Dimensions, dim: str) -> Iterable[str]:
    """The names of a base dim the reference data knows (reps, products or accounts)."""
    if dim == "rep":
        return dims.reps.keys()
    return dims.products.keys() if dim == "product" else dims.accounts.keys()


def _ungrouped(everything: Iterable[tuple[str, str, str, Any]], placed: Iterable[tuple[str, str, str, Any]],
               dim: str, dims: Dimensions, metrics: list[Metric]) -> dict[str, Decimal] | None:
    """The components of the names of ``dim`` the reference data does not place: the tenant's
    total less the ``placed`` names' totals; None when nothing non-zero is left (exact: Decimal
    sums of the same cells)."""
    priced = priced_of(metrics)
    acc: dict[str, Decimal] = {}
    for _, _, _, comps in everything:
        add_priced(acc, comps, dims, None, priced)
    for name, _, _, comps in placed:
        add_priced(acc, {k: -v for k, v in comps.items()}, dims, name if dim == "product" else None, priced)
    return acc if any(acc.values()) else None


class KpiView:
    """Reads the touched groups' KPI rows from one SQL store.

    ``resync`` and ``foreign_interval`` are accepted for compatibility and unused: every round
    reads the committed roll-ups, so there is nothing to resynchronise.
    """

    def __init__(self, sql: SqlEngine, resync: float = 300.0, foreign_interval: float = 1.0) -> None:
        self.sql = sql
        self.resync = resync
        self.foreign_interval = foreign_interval
        #: how the last :meth:`changed_rows` call spent its time (for the worker's log)
        self.timing: dict[str, float | bool] = {}

    def store_outcomes(self, tenant: str) -> int:
        """Every event outcome the store counted for ``tenant`` (bumped in each batch's transaction)."""
        # (the pattern is a parameter: a literal % in the text breaks psycopg's paramstyle)
        with self.sql.connect() as conn:
            rows = fetch_all(conn, "SELECT coalesce(sum(value), 0) FROM counters WHERE tenant = ? "
                             "AND name LIKE ?", (tenant, "attain_events_total%"))
        return int(rows[0][0] or 0)

    def changed_rows(self, tenant: str, touched: Iterable[RollKey], dims: Dimensions,
                     metrics: list[Metric], counts: Callable[[], tuple[int, int]] | None = None,
                     ) -> list[tuple[str, Row]]:
        """``(grouping, row)`` for every grouping's groups that the ``touched`` roll-up rows
        belong to, as :meth:`attain.core.Engine.kpis` gives them. (``counts`` is unused: the
        rows are read from the committed store.)"""
        t0 = time.monotonic()
        names: dict[str, set[str]] = {}  # dim -> touched names (total grain)
        periods: dict[str, set[str]] = {}  # time grain -> touched periods (dim all)
        for dim, name, grain, period in touched:
            if grain == "total":
                names.setdefault(dim, set()).add(name)
            elif dim == "all":
                periods.setdefault(grain, set()).add(period)
        out: list[tuple[str, Row]] = []
        read_rows = 0
        full: dict[str, list[tuple[str, str, str, Any]]] = {}
        everything: list[tuple[str, str, str, Any]] | None = None  # the tenant's total row
        with self.sql.connect() as conn:
            for g in GROUPINGS:
                if g in TIME_GRAINS:
                    ps = periods.get(g)
                    if not ps:
                        continue
                    rows = read_rollups(conn, tenant, "all", g, sorted(ps))
                    read_rows += len(rows)
                    out += [(g, r) for r in rollup_rows(rows, "all", [g], {(g, None): "*"}, dims, metrics)]
                    continue
                dim = BASE[g]
                ns = names.get(dim)
                if not ns:
                    continue
                if g == dim or g == "all":
                    rows = read_rollups(conn, tenant, dim, "total", None, sorted(ns))
                    read_rows += len(rows)
                    out += [(g, r) for r in rollup_rows(rows, dim, [g], {("total", ""): None}, dims, metrics)]
                    continue
                keys = {attribute(g, dims, dim, n) for n in ns}
                if dim in full:
                    rows = full[dim]
                elif None in keys:
                    # The ungrouped (None) group holds every name the reference data does not
                    # place: the tenant's total less the totals of the names it places (the
                    # roll-ups are sums of the same cells: all = Σ reps = Σ accounts = Σ
                    # products), so only the placed names are read, not every total.
                    placed = sorted(n for n in _names_of(dims, dim) if attribute(g, dims, dim, n) is not None)
                    rows = read_rollups(conn, tenant, dim, "total", None, placed)
                    if everything is None:
                        everything = read_rollups(conn, tenant, "all", "total")
                        read_rows += len(everything)
                    read_rows += len(rows)
                    sums: dict[object, dict[str, Decimal]] = {k: v for k, v in rollup_sums(
                        rows, dim, [g], {("total", ""): None}, dims,
                        metrics).items() if k in keys}
                    rest = _ungrouped(everything, rows, dim, dims, metrics)
                    if rest is not None:
                        sums[None] = rest
                        out += [(g, r) for r in finish(sums, metrics, False)]
                        continue
                    # nothing left over, or unplaced names whose totals cancel out: the read of
                    # every total tells the two apart (a group of zeros still has its row)
                    full[dim] = read_rollups(conn, tenant, dim, "total")
                    read_rows += len(full[dim])
                    rows = full[dim]
                else:  # the members the reference data places in the touched groups
                    members = sorted(n for n in _names_of(dims, dim) if attribute(g, dims, dim, n) in keys)
                    rows = read_rollups(conn, tenant, dim, "total", None, members)
                    read_rows += len(rows)
                out += [(g, r) for r in rollup_rows(rows, dim, [g], {("total", ""): None}, dims, metrics)
                        if r["key"] in keys]
        self.timing = {"full": False, "read_rows": float(read_rows),
                       "rows_ms": (time.monotonic() - t0) * 1000}
        return out
