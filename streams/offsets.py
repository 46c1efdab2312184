"""Which offsets of ``attain.events`` are processed (:class:`OffsetLedger`, as the store records
them) and what Kafka may be committed to (:class:`KafkaCommits`, the one patch of Faust's
consumer); see :mod:`attain.streams.worker` for the guarantees."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class OffsetLedger:
    """Which offsets of ``attain.events`` are processed, per partition, as the store knows it.

    ``base[p]``: every offset below it is processed (its store transaction committed): the
    store's ``stream_offsets`` row for ``p``, or the partition's first offset when the store has
    none. ``done[p]``: processed offsets at or above ``base[p]`` that do not join up with it yet
    (a repair of a skipped range is still due). :meth:`advance` is what a transaction may claim,
    :meth:`apply` makes it so once the transaction committed; both run in the one SQL thread,
    :meth:`load` (on assignment) in the event loop, hence the lock.
    """

    def __init__(self) -> None:
        self.base: dict[int, int] = {}
        self.done: dict[int, set[int]] = {}
        self._lock = threading.Lock()

    def load(self, partition: int, base: int) -> None:
        """The store says every offset below ``base`` is processed (it never goes back).

        Offsets processed before the first load (Faust may deliver before the assignment
        handler has read the store) were kept in ``done`` and join up now."""
        with self._lock:
            self.base[partition] = max(self.base.get(partition, base), base)
            self._settle(partition)

    def _settle(self, partition: int) -> None:
        done = self.done.get(partition)
        end = self.base[partition]
        if done:
            while end in done:
                end += 1
            done.difference_update([o for o in done if o < end])
        self.base[partition] = end

    def advance(self, offsets: dict[int, list[int]]) -> dict[int, int]:
        """The next offsets that processing ``offsets`` moves forward (partitions with a base)."""
        out: dict[int, int] = {}
        with self._lock:
            for p, offs in offsets.items():
                base = self.base.get(p)
                if base is None:
                    continue
                done = self.done.get(p, set())
                end = base
                mine = set(offs)
                while end in mine or end in done:
                    end += 1
                if end > base:
                    out[p] = end
        return out

    def apply(self, offsets: dict[int, list[int]]) -> None:
        """``offsets`` are processed: their transaction committed."""
        with self._lock:
            for p, offs in offsets.items():
                base = self.base.get(p)
                if base is None:  # not loaded yet: remembered until load()
                    self.done.setdefault(p, set()).update(offs)
                    continue
                self.done.setdefault(p, set()).update(o for o in offs if o >= base)
                self._settle(p)

    def next_offset(self, partition: int) -> int | None:
        return self.base.get(partition)


class KafkaCommits:
    """Faust commits, for ``attain.events``, exactly the offsets the store has recorded.

    One patch of Faust's consumer: ``_new_offset(tp)`` (what Faust would commit next for a
    partition) returns the ledger's next offset as it stood after the last batch whose dead
    letters were delivered. Faust's own choice comes from the acks it saw, and it acks messages
    it never handed to the agent (dropped around a rebalance while flow control was suspended),
    commits over jumps in fetched offsets (it takes them for compaction or transaction markers)
    and lets one unacked offset at the head of the queue through (faust-streaming #606). With
    this patch Kafka's committed offset never passes the store's, so the position Faust seeks
    to after a rebalance or restart never lies beyond an unprocessed record, and the consumer
    group's lag is true. (Faust's ``ack`` and ``_add_gap`` stay as they are: they only feed the
    decision this replaces; the bookkeeping they leave is cleared here.)
    """

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.next: dict[int, int] = {}  # partition -> offset Kafka may be committed to
        self.consumer: Any = None

    def install(self, consumer: Any) -> None:
        self.consumer = consumer
        original: Callable[[Any], int | None] = consumer._new_offset

        def new_offset(tp: Any) -> int | None:
            if tp.topic != self.topic:
                return original(tp)
            # Faust's bookkeeping of acks and gaps is not used for this topic: keep it empty.
            acked = consumer._acked.get(tp)
            if acked:
                acked.clear()
            index = consumer._acked_index.get(tp)
            if index:
                index.clear()
            gap = consumer._gap.get(tp)
            if gap:
                gap.clear()
            return self.next.get(tp.partition)

        consumer._new_offset = new_offset
