"""KPI rows of the groups a batch touched, computed cheaply from the committed store.

Rolling every grouping up over every cell after each batch costs ~100 ms for the bundled data set;
this view keeps it to a few milliseconds without ever trusting worker-local state for figures:

* A round reads back, as raw text, the committed ``kpi_cells`` rows of the cells this worker's
  batches changed, and parses only those whose text changed. As long as nobody else writes to the
  tenant (the store's event counters, bumped in every batch's transaction, grow exactly by what
  this worker's own batches account for), that is exact. Once another writer shows up, *all* of
  the tenant's cells are re-read at most once a second (``foreign_interval``), so another worker's
  changes appear in this worker's rows within about a second (that worker publishes its own
  changes at once). All cells are also re-read when the reference data changed and every
  ``resync`` seconds.
* Per grouping it keeps *classes* of cells that share a group key and a product, with their
  components summed and maintained by exact Decimal differences (new − old) of changed cells.
  Any member cell represents its class, so :func:`attain.core.kpi.rollup` over the classes gives
  exactly the figures of a rollup over all cells: a cell's group depends only on its key and the
  reference data, and list-price weighting only on its product.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from attain.core.kpi import GROUPINGS, CellKey, Components, Dimensions, Metric, rollup
from attain.core.store import cell_id, cell_key, fetch_all, in_chunks, loads_components, placeholders
from sqlalchemy.engine import Engine as SqlEngine

ZERO = Decimal(0)
Row = dict[str, object]


@dataclass
class _Class:
    rep: CellKey
    members: int = 0
    sums: dict[str, Decimal] = field(default_factory=dict)

    def add(self, comps: Mapping[str, Decimal], sign: int) -> None:
        s = self.sums
        for k, v in comps.items():
            s[k] = s.get(k, ZERO) + (v if sign > 0 else -v)


class TenantView:
    def __init__(self) -> None:
        self.raw: dict[CellKey, str] = {}
        self.comps: dict[CellKey, Components] = {}
        self.dims: Dimensions | None = None
        # grouping -> group key -> product -> class
        self.classes: dict[str, dict[str | None, dict[str, _Class]]] = {g: {} for g in GROUPINGS}

    def _move(self, cell: CellKey, comps: Mapping[str, Decimal], sign: int, member: int) -> None:
        assert self.dims is not None
        for g in GROUPINGS:
            key = self.dims.group_key(g, cell)
            by_product = self.classes[g].setdefault(key, {})
            cls = by_product.get(cell[1])
            if cls is None:
                cls = by_product[cell[1]] = _Class(rep=cell)
            cls.add(comps, sign)
            cls.members += member
            if cls.members <= 0:
                del by_product[cell[1]]
                if not by_product:
                    del self.classes[g][key]

    def refresh(self, rows: Iterable[tuple[CellKey, str]], dims: Dimensions,
                complete: bool = True, asked: Iterable[CellKey] = ()) -> None:
        """Bring the classes up to the committed cells ``rows`` and reference data ``dims``.

        ``complete``: ``rows`` are all of the tenant's cells (a cell missing from them is gone);
        otherwise they are the rows found for the cells ``asked`` (one asked for but not found is gone).
        """
        seen: set[CellKey] = set()
        changed: list[tuple[CellKey, str]] = []
        for cell, comps_text in rows:
            seen.add(cell)
            if self.raw.get(cell) != comps_text:
                changed.append((cell, comps_text))
        candidates: Iterable[CellKey] = self.raw if complete else asked
        removed = {c for c in candidates if c not in seen and c in self.raw}
        if self.dims != dims:
            for cell, comps_text in changed:
                self.raw[cell] = comps_text
                self.comps[cell] = loads_components(comps_text)
            for cell in removed:
                del self.raw[cell]
                del self.comps[cell]
            self.dims = dims
            self.classes = {g: {} for g in GROUPINGS}
            for cell, comps in self.comps.items():
                self._move(cell, comps, +1, 1)
            return
        for cell, comps_text in changed:
            new = loads_components(comps_text)
            old = self.comps.get(cell)
            if old is not None:
                self._move(cell, old, -1, 0)
            self._move(cell, new, +1, 0 if old is not None else 1)
            self.raw[cell] = comps_text
            self.comps[cell] = new
        for cell in removed:
            self._move(cell, self.comps.pop(cell), -1, -1)
            del self.raw[cell]

    def rows(self, grouping: str, keys: Iterable[str | None] | None, metrics: list[Metric]) -> list[Row]:
        """KPI rows of ``grouping`` for ``keys`` (all keys when ``None``), as :func:`rollup` gives."""
        assert self.dims is not None
        classes = self.classes[grouping]
        wanted = classes.keys() if keys is None else [k for k in set(keys) if k in classes]
        pseudo: dict[CellKey, Components] = {}
        for k in wanted:
            for cls in classes[k].values():
                pseudo[cls.rep] = cls.sums
        return rollup(pseudo, grouping, self.dims, metrics)


class KpiView:
    """Per-tenant :class:`TenantView` caches over one SQL store.

    ``resync``: seconds after which every cell is re-read regardless (a safety net, e.g. for a
    rebuild by another process, which counts no events). ``foreign_interval``: once another writer
    was seen, every cell is re-read at most this often (in between, the touched cells are read
    back), so its changes show in this worker's rows within that time.
    """

    def __init__(self, sql: SqlEngine, resync: float = 300.0, foreign_interval: float = 1.0) -> None:
        self.sql = sql
        self.resync = resync
        self.foreign_interval = foreign_interval
        self.tenants: dict[str, TenantView] = {}
        # tenant -> (time of the last full read, store's outcomes, our outcomes, foreign writes seen)
        self._synced: dict[str, tuple[float, int, int, bool]] = {}
        self._keys: dict[str, CellKey] = {}
        #: how the last :meth:`changed_rows` call spent its time (for the worker's log)
        self.timing: dict[str, float | bool] = {}

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """On the DBAPI cursor: plain tuples, without SQLAlchemy's row objects."""
        with self.sql.connect() as conn:
            return fetch_all(conn, sql, params)

    def _cells(self, rows: list[tuple[Any, ...]]) -> list[tuple[CellKey, str]]:
        keys = self._keys
        out = []
        for cid, comps in rows:
            key = keys.get(cid)
            if key is None:
                key = keys[cid] = cell_key(cid)
            out.append((key, comps))
        return out

    def read_cells(self, tenant: str) -> list[tuple[CellKey, str]]:
        return self._cells(self._query("SELECT cell, components FROM kpi_cells WHERE tenant = ?", (tenant,)))

    def read_some_cells(self, tenant: str, cells: list[CellKey], chunk: int = 500) -> list[tuple[CellKey, str]]:
        ids = [cell_id(c) for c in cells]
        out: list[tuple[CellKey, str]] = []
        for part in in_chunks(ids, chunk):
            out += self._cells(self._query(
                f"SELECT cell, components FROM kpi_cells WHERE tenant = ? AND cell IN ({placeholders(len(part))})",
                (tenant, *part)))
        return out

    def store_outcomes(self, tenant: str) -> int:
        """Every event outcome the store counted for ``tenant`` (bumped in each batch's transaction)."""
        # (the pattern is a parameter: a literal % in the text breaks psycopg's paramstyle)
        rows = self._query("SELECT coalesce(sum(value), 0) FROM counters WHERE tenant = ? "
                           "AND name LIKE ?", (tenant, "attain_events_total%"))
        return int(rows[0][0] or 0)

    def changed_rows(self, tenant: str, touched: Iterable[CellKey], dims: Dimensions,
                     metrics: list[Metric], counts: Callable[[], tuple[int, int]] | None = None,
                     ) -> list[tuple[str, Row]]:
        """``(grouping, row)`` for every grouping's keys that the ``touched`` cells belong to.

        ``counts()`` returns, as one consistent snapshot, the event outcomes the store counted for
        ``tenant`` (:meth:`store_outcomes`) and how many of them the caller's own batches account
        for. While both grow alike nobody else writes, and reading back the ``touched`` cells is
        exact. Without ``counts`` every writer is taken for foreign.
        """
        view = self.tenants.setdefault(tenant, TenantView())
        touched = list(touched)
        now = time.monotonic()
        stored, own = counts() if counts is not None else (0, 0)
        t1 = time.monotonic()
        last = self._synced.get(tenant)
        if last is None:
            full, foreign = True, False
        else:
            foreign = counts is None or last[3] or stored - last[1] != own - last[2]
            since = now - last[0]
            full = (view.dims != dims or since >= self.resync
                    or (foreign and since >= self.foreign_interval))
        if full:
            rows = self.read_cells(tenant)
            t2 = time.monotonic()
            view.refresh(rows, dims)
            self._synced[tenant] = (now, stored, own, False)
        else:
            assert last is not None
            rows = self.read_some_cells(tenant, touched)
            t2 = time.monotonic()
            view.refresh(rows, dims, complete=False, asked=touched)
            self._synced[tenant] = (last[0], stored, own, foreign)
        t3 = time.monotonic()
        out: list[tuple[str, Row]] = []
        for g in GROUPINGS:
            keys = {dims.group_key(g, c) for c in touched}
            out += [(g, r) for r in view.rows(g, keys, metrics)]
        self.timing = {"full": full, "counts_ms": (t1 - now) * 1000, "read_ms": (t2 - t1) * 1000,
                       "refresh_ms": (t3 - t2) * 1000, "rows_ms": (time.monotonic() - t3) * 1000}
        return out
