"""Topic creation with kafka-python's admin client (explicit partitions and replication).

Relying on the broker's auto-creation would give every topic the broker's ``num.partitions``
(often 1), and the first producer would silently decide the layout. Every command that touches a
topic calls :func:`ensure_topics` first.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from .config import StreamConfig

log = logging.getLogger("attain.streams")


class KafkaUnavailable(RuntimeError):
    """The brokers cannot be reached (or the topics cannot be created)."""


@dataclass(frozen=True)
class TopicLayout:
    name: str
    partitions: int
    replication: int


def ensure_topics(cfg: StreamConfig, timeout: float = 30.0) -> dict[str, TopicLayout]:
    """Create Attain's topics that are missing; return every topic's actual layout.

    An existing topic keeps its layout (Kafka cannot lower a partition count); a count that differs
    from ``ATTAIN_KAFKA_PARTITIONS`` is logged, and the worker sizes its table to the real one.
    """
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=cfg.brokers, client_id="attain-admin",
                                     request_timeout_ms=int(min(timeout, 30) * 1000))
            break
        except KafkaError as exc:  # NoBrokersAvailable while the broker starts
            last = exc
            if time.monotonic() > deadline:
                raise KafkaUnavailable(f"no Kafka broker at {cfg.bootstrap}: {exc}") from exc
            time.sleep(0.5)
    try:
        existing = set(admin.list_topics())
        missing = [t for t in cfg.topics if t not in existing]
        if missing:
            new = [NewTopic(t, cfg.partitions, cfg.replication) for t in missing]
            try:
                admin.create_topics(new, raise_errors=True)
                log.info("created topics %s (%d partitions, replication %d)",
                         ", ".join(missing), cfg.partitions, cfg.replication)
            except TopicAlreadyExistsError:
                pass  # another process created them first
            admin.wait_for_topics(missing, timeout_ms=int(timeout * 1000))
        layout: dict[str, TopicLayout] = {}
        for desc in admin.describe_topics(cfg.topics):
            parts = desc.get("partitions") or []
            if desc.get("error_code") or not parts:
                raise KafkaUnavailable(f"topic {desc.get('name')!r} is not available: {desc}")
            t = TopicLayout(desc["name"], len(parts), len(parts[0].get("replica_nodes") or []))
            layout[t.name] = t
            if t.partitions != cfg.partitions:
                log.warning("topic %s has %d partitions (ATTAIN_KAFKA_PARTITIONS=%d); using %d",
                            t.name, t.partitions, cfg.partitions, t.partitions)
        return layout
    except KafkaError as exc:
        raise KafkaUnavailable(f"Kafka at {cfg.bootstrap}: {exc}") from (last or exc)
    finally:
        admin.close()
