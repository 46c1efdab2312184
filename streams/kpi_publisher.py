"""Publishing KPI updates: after batches, the rows of every group they touched are read from the
committed store (:class:`~.kpiview.KpiView`) and sent to ``attain.kpi-updates``, coalesced and
paced so a KPI round never holds up the next batch.

When Kafka has acknowledged every message of a round, ``attain_event_to_kpi_seconds`` observes,
for each accepted event the round reflects, the time from the event's Kafka timestamp to then."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from attain.core.kpi import CellKey

from .config import StreamConfig
from .kpi_rounds import KpiRounds, Outcome, RoundProcess
from .metrics import Stats

log = logging.getLogger("attain.streams")

KPI_PAUSE_BACKLOG = 3.0  # pause after a KPI round under a backlog, in multiples of its duration


class KpiPublisher:
    """The worker's KPI updates (mixed into :class:`~.worker.StreamWorker`)."""

    cfg: StreamConfig
    stats: Stats
    rounds: KpiRounds
    round_process: RoundProcess | None
    sql_read: ThreadPoolExecutor
    kpi_interval: float
    _pending: dict[str, set[CellKey]]
    _pending_offsets: dict[int, int]
    _pending_times: list[float]
    _dirty: asyncio.Event
    _backlog: bool
    _producer: Callable[[], Awaitable[Any]]

    async def _kpi_round(self, pending: dict[str, set[CellKey]], offsets: dict[int, int]) -> Outcome:
        """The round's messages, computed in the round process (or, without one, in the KPI
        thread): not on the event loop, which feeds the batches."""
        if self.round_process is None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.sql_read, self.rounds.messages, pending, offsets)
        return await self.round_process.round(pending, offsets)  # (a dead one: the next, anew)

    async def _publish_kpis(self) -> None:
        """Publish the KPI rows of every group touched since the last round (coalesced)."""
        if self.round_process is not None:
            await asyncio.wrap_future(self.round_process.start())
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if not self._pending:
                continue  # nothing changed; the offsets ride along with the next update
            pending, self._pending = self._pending, {}
            offsets, self._pending_offsets = self._pending_offsets, {}
            times, self._pending_times = self._pending_times, []
            t0 = time.perf_counter()
            try:
                messages, n_rows, timing = await self._kpi_round(pending, offsets)
                producer = await self._producer()
                sent = [await producer.send(self.cfg.kpi_topic, value, key=key) for key, value in messages]
                self._when_delivered(sent, times)
                self.stats.kpi_rows_sent += n_rows
                if log.isEnabledFor(logging.INFO):
                    log.info("KPI round: %d rows for %d cells in %.1f ms (%s)", n_rows,
                             sum(len(c) for c in pending.values()), (time.perf_counter() - t0) * 1000,
                             " ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                                      for k, v in timing.items()))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # best effort: the store has the figures, the next round retries
                log.error("publishing KPI updates failed: %r", exc, exc_info=exc)
                for tenant, cells in pending.items():
                    self._pending.setdefault(tenant, set()).update(cells)
                for p, o in offsets.items():
                    self._pending_offsets[p] = max(self._pending_offsets.get(p, -1), o)
                self._pending_times[:0] = times
                self._dirty.set()
            # Pace the rounds: a round is followed by a pause as long as itself (at most half of
            # the time goes to KPI updates; with no pause at all, measured, back-to-back rounds
            # took the CPU the batches needed and latency at 30 % of capacity went from 0.4 s to
            # 2 s on a busy machine), three times as long under a backlog: a full batch's worth
            # of events waiting in Kafka behind the agent's last batch (at most a quarter, each
            # round covering more batches, +13 % throughput). The backlog is read from the
            # consumer's highwater marks, not guessed from the batch size, so traffic within
            # capacity, however bursty its batches, is never paced as a backlog.
            # The same pause with the round in a process of its own: measured (2026-12-03, 30 %
            # of C), no pause let back-to-back rounds take the core the batches, Kafka and the
            # producers share (p99 5.0 s), a pause of twice the round made each round cover
            # more events for longer (p99 1.07 s), one round's length gave p99 0.86 s.
            factor = KPI_PAUSE_BACKLOG if self._backlog else 1.0
            await asyncio.sleep(max(self.kpi_interval, factor * (time.perf_counter() - t0)))

    def _when_delivered(self, sent: Sequence[Awaitable[Any]], times: list[float]) -> None:
        """Observe ``times`` (the round's accepted events' Kafka timestamps) once every message
        of the round is delivered; not awaited, so the round does not wait for Kafka's acks."""
        if not times:
            return

        def delivered(fut: asyncio.Future[Any]) -> None:
            if fut.cancelled() or fut.exception() is not None:
                return  # not published: no KPI update reflects these events (logged by aiokafka)
            self.stats.observe_event_to_kpi(times, time.time())

        asyncio.ensure_future(asyncio.gather(*sent)).add_done_callback(delivered)
