"""One KPI round: the ``attain.kpi-updates`` messages of the groups a worker's batches touched,
read from the committed store (:class:`~.kpiview.KpiView`), one message per tenant and grouping.

A round runs in a process of its own by default (:class:`RoundProcess`; ``ATTAIN_KPI_PROCESS=0``:
in a thread of the worker's). Computing a round's rows is Python work of the same size as the
batches' (~0.1 ms per row: the roll-ups summed per group, every metric, the JSON), and in the
worker's process it shares one interpreter lock with the batches and with Faust's event loop:
measured, a round's rows took about five times as long there as alone. In its own process it
runs on the machine's other core while the worker processes the next batch. The process opens
its own connections to the same store, so it reads exactly what a thread would: the committed
state, whoever wrote it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import cast

from attain.core import Dimensions, Engine, Store, get_plugins
from attain.core.kpi import CellKey

from . import codec
from .helper_process import HelperProcess
from .kpiview import KpiView

DIMS_TTL = 1.0  # seconds

Pending = Mapping[str, set[CellKey]]
Messages = list[tuple[bytes, bytes]]
#: a round's messages, how many rows they hold, and where its time went (for the worker's log)
Outcome = tuple[Messages, int, dict[str, float | bool]]


class KpiRounds:
    """Computes rounds over one store (reference data re-read at most once a second)."""

    def __init__(self, engine: Engine, view: KpiView) -> None:
        self.engine = engine
        self.view = view
        self._dims: dict[str, tuple[float, Dimensions]] = {}

    def messages(self, pending: Pending, offsets: Mapping[int, int]) -> Outcome:
        """The round's messages (key, value), one per tenant and grouping: the rows of the groups
        ``pending`` (tenant → touched roll-up rows) belong to, with the partitions' ``offsets``
        they cover."""
        started = time.perf_counter()
        by_grouping: dict[tuple[str, str], list[dict[str, object]]] = {}
        n_rows = 0
        for tenant, changed in pending.items():
            dims, metrics = self._dimensions(tenant), self.engine.metrics(tenant)
            for grouping, row in self.view.changed_rows(tenant, changed, dims, metrics):
                by_grouping.setdefault((tenant, grouping), []).append(row)
                n_rows += 1
        computed_at = codec.now_iso()
        out = [(codec.kpi_key(tenant, grouping).encode(),
                codec.kpi_value(tenant, grouping, rows, computed_at, offsets))
               for (tenant, grouping), rows in by_grouping.items()]
        timing = {**self.view.timing, "round_ms": (time.perf_counter() - started) * 1000}
        return out, n_rows, timing

    def _dimensions(self, tenant: str) -> Dimensions:
        now = time.monotonic()
        hit = self._dims.get(tenant)
        if hit is None or now - hit[0] >= DIMS_TTL:
            hit = self._dims[tenant] = (now, self.engine.dimensions(tenant))
        return hit[1]


def in_thread(store: Store, engine: Engine) -> KpiRounds:
    """Rounds computed in the worker's own process, on its store."""
    return KpiRounds(engine, KpiView(store.engine))


# -- in a process of its own ----------------------------------------------------------------------

_rounds: KpiRounds | None = None


def _start(url: str) -> None:
    """The round process's initializer: its own store (already migrated by the worker), engine
    and plugins."""
    global _rounds
    store = Store(url, run_migrations=False)
    _rounds = KpiRounds(Engine(store, get_plugins()), KpiView(store.engine))


def _round(pending: Pending, offsets: Mapping[int, int]) -> Outcome:
    if _rounds is None:  # pragma: no cover - the initializer always ran
        raise RuntimeError("the KPI round process was not initialised")
    return _rounds.messages(pending, offsets)


class RoundProcess(HelperProcess):
    """The process that computes rounds. If it dies, the round fails (the worker's next round
    retries it) and the next one starts a new process."""

    def __init__(self, url: str) -> None:
        super().__init__(_start, url)

    async def round(self, pending: Pending, offsets: Mapping[int, int]) -> Outcome:
        """The round's :data:`Outcome`."""
        return cast(Outcome, await self.call(_round, dict(pending), dict(offsets)))
