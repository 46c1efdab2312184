"""``attain publish``: JSON Lines files and connectors → ``attain.events`` (aiokafka producer)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from attain.core import Record
from attain.core.models import entity_key

from . import codec
from .admin import ensure_topics
from .config import StreamConfig

Item = tuple[bytes | None, bytes]  # key, value


@dataclass
class Published:
    events: int = 0
    unkeyed: int = 0
    seconds: float = 0.0

    def summary(self, topic: str) -> str:
        rate = self.events / self.seconds if self.seconds > 0 else 0.0
        extra = f" ({self.unkeyed} without a key: not valid JSON events)" if self.unkeyed else ""
        return f"published {self.events} events to {topic} in {self.seconds:.1f} s ({rate:,.0f}/s){extra}"


def lines_items(lines: Iterable[bytes]) -> Iterator[Item]:
    """One message per non-blank line; the line is sent unchanged, even when it is invalid."""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        key = codec.key_of_line(line)
        yield (key.encode() if key is not None else None), line


def record_items(records: Iterable[Record]) -> Iterator[Item]:
    """A connector's records as messages (dicts are encoded with exact decimals)."""
    for rec in records:
        p: Any = rec.payload
        if rec.reason is not None:
            text = p.decode("utf-8", "replace") if isinstance(p, bytes) else (
                p if isinstance(p, str) else codec.encode_event(dict(p)).decode()
                if isinstance(p, dict) else p.model_dump_json())
            key = codec.event_key(p) if isinstance(p, dict) else None
            yield (key.encode() if key is not None else None), codec.rejected_value(
                rec.reason, rec.source, text)
            continue
        if isinstance(p, (bytes, str)):
            value = p.encode() if isinstance(p, str) else p
            key = codec.key_of_line(value)
        elif isinstance(p, dict):
            value = codec.encode_event(p)
            key = codec.event_key(p)
        elif hasattr(p, "model_dump_json"):
            value = p.model_dump_json().encode()
            key = f"{p.tenant}{codec.SEP}{entity_key(p)}"
        else:
            value = codec.encode_event(dict(p))
            key = codec.event_key(p)
        yield (key.encode() if key is not None else None), value


async def produce(cfg: StreamConfig, items: Iterable[Item], rate: float | None = None,
                  topic: str | None = None, window: int = 20000) -> Published:
    """Send every item and wait until the broker has acknowledged all of them (acks=all)."""
    from aiokafka import AIOKafkaProducer

    topic = topic or cfg.events_topic
    producer = AIOKafkaProducer(bootstrap_servers=cfg.brokers, acks="all", enable_idempotence=True,
                                linger_ms=5, max_batch_size=262144, client_id="attain-publish")
    await producer.start()
    out = Published()
    started = time.perf_counter()
    try:
        futs: list[asyncio.Future[Any]] = []
        for i, (key, value) in enumerate(items):
            if rate:
                ahead = started + i / rate - time.perf_counter()
                if ahead > 0:
                    await asyncio.sleep(ahead)
            futs.append(await producer.send(topic, value, key=key))
            out.events += 1
            out.unkeyed += key is None
            if len(futs) >= window:
                await asyncio.gather(*futs)
                futs = []
        await asyncio.gather(*futs)
    finally:
        await producer.stop()
    out.seconds = time.perf_counter() - started
    return out


def publish_items(cfg: StreamConfig, items: Iterable[Item], rate: float | None = None) -> Published:
    ensure_topics(cfg)
    return asyncio.run(produce(cfg, items, rate))
