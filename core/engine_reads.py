"""The engine's public read API (:class:`~attain.core.engine.Engine` inherits it): reference
data, metrics, KPI rows (the roll-up fast path and the scan path), deal snapshots, the event log
and its positions, facts, exchange rates. Every read is scoped to one tenant."""


import datetime as dt
import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from .fx import Rates, unconverted_counts
from .kpi import (
    FACT_TYPES,
    Components,
    Contributor,
    Dimensions,
    Fact,
    Metric,
    _normalize,
    add_into,
    day_cell,
    fact_day_cell,
    kpi_rows,
)
from .models import Account, AnyEvent, DealEvent, Product, Rep
from .period_metrics import PeriodMetric, PeriodReads, split_names
from .period_metrics import fill as fill_period_metrics
from .periods import Period
from .periods import naive_utc as _naive_utc
from .plugins import Plugins
from .rollups import (
    GRAINS,
    TIME_GRAINS,
    DayCell,
    cell_rows,
    fast_dim,
    parse_groupings,
    parse_read_period,
    pick_metrics,
    plan_tiles,
    rollup_rows,
)
from .store import Store, fxrates
from .store import reads as store_reads

log = logging.getLogger("attain.engine")

SETTINGS_TTL_S = 5.0
SIGNATURE_KEY = "kpi_signature"


class EngineReads:
    """The read half of :class:`~attain.core.engine.Engine` (a mixin: ``store`` and ``plugins``
    and the helpers below are the engine's)."""

    store: Store
    plugins: Plugins

    if TYPE_CHECKING:
        def disabled(self, tenant: str) -> set[str]: ...
        def contributor(self, tenant: str | None = None) -> Contributor: ...
        def rollup_rows(self, tenant: str, dim: str, grain: str, periods: Sequence[str] | None = None,
                        names: Sequence[str] | None = None) -> list[tuple[str, str, str, Components]]: ...
        def _rates(self, conn: Connection, tenant: str) -> Rates: ...
        def _rebuild(self, conn: Connection, tenant: str) -> None: ...
        def _tenant_signature(self, conn: Connection, tenant: str) -> str: ...

    def dimensions(self, tenant: str) -> Dimensions:
        """The tenant's reference data: reps (with manager and region), accounts, products."""
        with self.store.connect() as conn:
            reps, accounts, products = store_reads.read_dimensions(conn, tenant)
        return Dimensions(reps=reps, accounts=accounts, products=products)

    def metrics(self, tenant: str) -> list[Metric]:
        """The metrics shown for ``tenant`` (those of plugins it has not disabled)."""
        return self.plugins.metrics_for(self.disabled(tenant))

    def period_metrics(self, tenant: str) -> list[PeriodMetric]:
        """The period metrics of ``tenant`` (:mod:`attain.core.period_metrics`; those of
        plugins it has not disabled)."""
        return self.plugins.period_metrics_for(self.disabled(tenant))

    def kpis(self, tenant: str, groupings: str | Sequence[str] = "all", *,
             period: str | Period | None = None, metrics: Sequence[str] | None = None,
             where: Callable[[Any], bool] | None = None,
             owners: Collection[str] | None = None,
             period_metrics: bool = False) -> list[dict[str, object]]:
        """KPI rows of ``groupings``, sorted by won_revenue (then key) descending.

        :param groupings: one grouping (``"rep"``) or several (``"region,quarter"`` or a list):
            with several, each row's ``key`` is the list of its groups in that order; at most one
            time grouping (``year``, ``quarter``, ``month``, ``week``, ``day``).
        :param period: only what is attributed to days of this period (``2017``, ``2017-Q3``,
            ``2017-07``, ``2017-W27``, ``2017-07-14``, ``2017-07-01..2017-08-15``); open deals
            (no KPI day) are then left out. A time grouping's groups are clipped to it.
        :param metrics: only these metrics' columns (names), in this order.
        :param where: only the deals and facts this predicate keeps (the scan path, as
            :meth:`kpis_where`).
        :param owners: only the deals and facts owned by these reps.
        :param period_metrics: add every period metric (company figures from state across
            events, :mod:`attain.core.period_metrics`); named in ``metrics``, they are added
            anyway. They have values in the ``all`` and time groupings (the company's, per
            period), ``None`` elsewhere and with ``where`` or ``owners``.

        Reads the stored roll-ups (rows ∝ groups × periods asked) when every attribute grouping
        comes from one base dim (rep/manager/region, product/series, account/sector, all) and the
        roll-ups hold the grain; otherwise (rep × product, account × week, ``where`` …) it scans
        the deals and facts (:func:`attain.core.rollups.cell_rows`): the same figures.
        """
        groups = parse_groupings(groupings)
        pms = {m.name: m for m in self.period_metrics(tenant)}
        additive, named = split_names(metrics, pms)
        per = None if period is None else parse_read_period(period)
        shown = pick_metrics(self.metrics(tenant), additive, also=pms)
        extra = named if metrics is not None else list(pms.values()) if period_metrics else []
        rows = self._kpis(tenant, groups, per, shown, where, owners)
        if extra:
            if where is not None or owners is not None:  # a part of the company: no state figures
                for r in rows:
                    r.update(dict.fromkeys((m.name for m in extra), None))
            else:
                if not rows and groups == ["all"] and named:  # asked by name (a goal): the company's
                    # row even without additive data (a quiet quarter still has a churn rate)
                    rows = [{"key": "all", **{m.name: _normalize(m.compute({})) for m in shown}}]
                fill_period_metrics(rows, groups, per, extra, lambda: self.period_reads(tenant))
        return rows

    def period_reads(self, tenant: str) -> PeriodReads:
        """What period metrics read for ``tenant``: one :class:`PeriodReads` per state of its
        event log and exchange rates (so what plugins derive and :meth:`PeriodReads.memo`
        keeps serves every read until the next accepted event)."""
        with self.store.connect() as conn:
            key = (store_reads.log_position(conn, tenant), fxrates.generation(conn, tenant))
        cache: dict[str, tuple[tuple[int, object], PeriodReads]] = self.__dict__.setdefault("_period_reads", {})
        hit = cache.get(tenant)
        if hit is not None and hit[0] == key:
            return hit[1]
        reads = PeriodReads(self, tenant)  # type: ignore[arg-type]
        cache[tenant] = (key, reads)
        return reads

    def _kpis(self, tenant: str, groups: list[str], per: Period | None, shown: list[Metric],
              where: Callable[[Any], bool] | None,
              owners: Collection[str] | None) -> list[dict[str, object]]:
        dims = self.dimensions(tenant)
        dim = None if where is not None else fast_dim(groups)
        if dim is not None and owners is not None:
            dim = "rep" if dim in ("all", "rep") else None
        if dim is not None:
            tgrain = next((g for g in groups if g in TIME_GRAINS), None)
            plan = plan_tiles(tgrain, per, GRAINS[dim])
            if plan is not None:
                names = None if owners is None else sorted(set(owners))
                want: dict[str, list[str] | None] = {}
                for g, p in plan:  # per grain: the periods to read (None: every one)
                    if p is None:
                        want[g] = None
                    elif (ps := want.setdefault(g, [])) is not None:
                        ps.append(p)
                rows: list[tuple[str, str, str, Components]] = []
                if names != []:
                    for g, ps in want.items():
                        rows += self.rollup_rows(tenant, dim, g, ps, names)
                return rollup_rows(rows, dim, groups, plan, dims, shown)
        return self._scan(tenant, groups, per, shown, dims, where, owners)

    def _scan(self, tenant: str, groups: Sequence[str], per: Period | None, shown: list[Metric],
              dims: Dimensions, where: Callable[[Any], bool] | None,
              owners: Collection[str] | None) -> list[dict[str, object]]:
        """The scan path: day-level cells of the deals and facts kept, rolled up."""
        fn = self.contributor()
        types = {t for m in shown for t in m.events}
        keep = None if owners is None else set(owners)
        cells: dict[DayCell, Components] = {}
        if "deal" in types:
            closed = None if per is None else (per.start, per.end)
            with self.store.connect() as conn:
                for d in store_reads.read_snapshots(conn, tenant, closed=closed):
                    if (keep is None or d.owner in keep) and (where is None or where(d)):
                        add_into(cells, day_cell(d), fn(d))
        if types.intersection(FACT_TYPES):
            for f in self.facts(tenant):
                if f.type not in types or (keep is not None and (getattr(f, "owner", None) or "") not in keep):
                    continue
                cell = fact_day_cell(f)
                if (per is None or per.contains(cell[3])) and (where is None or where(f)):
                    comps = fn(f)
                    if comps:
                        add_into(cells, cell, comps)
        return cell_rows(cells, groups, dims, shown)

    def snapshots(self, tenant: str, deal_ids: Iterable[str] | None = None) -> list[DealEvent]:
        """The latest stored snapshot of each deal of ``deal_ids`` that exists (every deal of
        the tenant when ``None``)."""
        with self.store.connect() as conn:
            return list(store_reads.read_snapshots(conn, tenant, deal_ids))

    def deals(self, tenant: str) -> Iterator[DealEvent]:
        """The latest snapshot of every deal of ``tenant``."""
        with self.store.connect() as conn:
            yield from store_reads.read_snapshots(conn, tenant)

    def events(self, tenant: str, *, types: Iterable[str] | None = None,
               entity_ids: Iterable[str] | None = None, since: dt.datetime | None = None,
               contains: str | None = None) -> Iterator[AnyEvent]:
        """The tenant's stored events (every accepted one, each event id once), validated, in
        arrival order.

        :param types: only these event types (``"deal"``, ``"lead"``, ``"activity"``,
            ``"customer"``).
        :param entity_ids: only events of these entities (a deal's ``deal_id``; see
            :func:`attain.core.models.entity_key` for the others): e.g. every version of some
            deals.
        :param since: only events that occurred at or after this time (naive = UTC).
        :param contains: only events whose stored JSON text contains this text: a cheap
            pre-filter done by the database (e.g. ``"churned"``); check the parsed event too.
        """
        cut = None if since is None else _naive_utc(since)
        with self.store.connect() as conn:
            for _, ev in store_reads.read_events(conn, tenant, types=types, entity_ids=entity_ids,
                                                 contains=contains):
                if cut is None or _naive_utc(ev.occurred_at) >= cut:
                    yield ev

    def log_position(self, tenant: str, conn: Connection | None = None) -> int:
        """The event-log position of the tenant's newest stored event (0 for none): a cursor
        for :meth:`events_after`."""
        if conn is not None:
            return store_reads.log_position(conn, tenant)
        with self.store.connect() as c:
            return store_reads.log_position(c, tenant)

    def events_after(self, tenant: str, position: int, *, types: Iterable[str] | None = None,
                     known: Mapping[str, AnyEvent] | None = None,
                     conn: Connection | None = None) -> tuple[int, list[AnyEvent]]:
        """The tenant's events stored after ``position`` (a :meth:`log_position`), in arrival
        order, and the new position: an incremental reader's cursor.

        :param types: only these event types.
        :param known: event id → event for events the caller holds already (e.g. the batch's
            own, from :attr:`Result.outcomes`): returned as they are instead of parsed again.
        :param conn: read inside the caller's transaction (e.g. one holding the tenant's lock,
            :meth:`attain.core.Store.transaction`, so no writer of the tenant commits meanwhile).
        """
        if conn is not None:
            return store_reads.read_tail(conn, tenant, position, types, known)
        with self.store.connect() as c:
            return store_reads.read_tail(c, tenant, position, types, known)

    def facts(self, tenant: str) -> Iterator[Fact]:
        """Every stored fact of ``tenant`` (lead, activity, customer, cost and rep events,
        :data:`~attain.core.kpi.FACT_TYPES`), validated, in arrival order. Facts never change;
        each event id appears once."""
        for ev in self.events(tenant, types=FACT_TYPES):
            if not isinstance(ev, DealEvent):
                yield ev

    def kpis_where(self, tenant: str, grouping: str, where: Callable[[Any], bool],
                   metrics: Iterable[Metric] | None = None) -> list[dict[str, object]]:
        """KPI rows over the deals and facts that satisfy ``where`` (e.g. closed in a month,
        one team): :func:`attain.core.kpi.kpi_rows` over the tenant's stored snapshots, facts
        and reference data.

        ``where`` receives every deal's latest snapshot (:meth:`deals`) *and* every lead and
        activity event (:meth:`facts`): a predicate that reads deal fields (``closed_on``,
        ``status`` …) must check ``event.type == "deal"`` (or ``isinstance``) first. Facts
        have ``occurred_at`` and an ``owner`` (optional on leads).

        Computed with the same contribute/compute functions as the live cells, so it agrees
        with :meth:`kpis` on the same events.
        """
        shown = list(self.metrics(tenant) if metrics is None else metrics)
        types = {t for m in shown for t in m.events}  # only read what the metrics count
        deals = self.deals(tenant) if "deal" in types else ()
        facts = self.facts(tenant) if types.intersection(FACT_TYPES) else ()
        return kpi_rows(deals, facts, self.dimensions(tenant), shown, grouping, where,
                        self.contributor(tenant))

    def unconverted(self, tenant: str) -> dict[tuple[str, str], int]:
        """Events whose amount has no exchange rate to the reporting currency, per (event type,
        currency): deals, costs, customer events. They are left out of every figure (never
        summed in another currency); the event log keeps them."""
        return unconverted_counts(c for *_, c in self.rollup_rows(tenant, "all", "total"))

    def save_rates(self, tenant: str, rows: Iterable[tuple[str, dt.date, Decimal]],
                   reporting: str | None = None) -> Rates:
        """Add or replace exchange rates (``(currency, day, rate)``: units of the reporting
        currency per unit from ``day`` on) and optionally set the reporting currency; the
        tenant's KPI cells are rebuilt at the new rates in the same transaction."""
        with self.store.transaction(tenant) as conn:
            rates = fxrates.save_rates(conn, tenant, rows, reporting)
            self._rebuild(conn, tenant)
            store_reads.set_meta(conn, tenant, SIGNATURE_KEY, self._tenant_signature(conn, tenant))
        return rates

    def rates(self, tenant: str) -> Rates:
        """The tenant's reporting currency and exchange rates."""
        with self.store.connect() as conn:
            return self._rates(conn, tenant)

    def save_dimensions(self, tenant: str, reps: Iterable[Rep] = (),
                        accounts: Iterable[Account] = (), products: Iterable[Product] = ()) -> None:
        """Add or update reference data (reps, accounts, products) of ``tenant``."""
        with self.store.transaction() as conn:
            store_reads.save_dimensions(conn, tenant, reps, accounts, products)
