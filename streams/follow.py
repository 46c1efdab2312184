"""``attain kpi --follow``: print changed KPI rows as they arrive on ``attain.kpi-updates``."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import IO, Any

from attain.core import output

from .admin import ensure_topics
from .config import StreamConfig

KPI_COLUMNS = ["won_revenue", "won_deals", "lost_deals", "open_deals", "win_rate",
               "avg_deal_size", "avg_cycle_days", "pipeline_value"]
CORE_MONEY = frozenset({"won_revenue", "avg_deal_size", "pipeline_value"})


def decode_update(value: bytes) -> dict[str, Any]:
    """A KPI update message, numbers parsed exactly (Decimal, never float)."""
    data: dict[str, Any] = json.loads(value, parse_float=Decimal)
    return data


def _shown(column: str, value: Any, money: frozenset[str]) -> str:
    """A figure as ``attain kpi``'s table shows it (a JSON integer is a Decimal like the others:
    an amount of 300 is 300.00, a count of 1200 is 1,200)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = Decimal(value)
    return output.money(value) if column in money else output.plain(value)


class _Printer:
    def __init__(self, by: str, fmt: str, out: IO[str], money: frozenset[str] = CORE_MONEY) -> None:
        """``money``: the columns shown as amounts (the metrics whose unit is ``money``)."""
        self.by, self.fmt, self.out, self.money = by, fmt, out, money
        self.columns: list[str] | None = None

    def __call__(self, row: dict[str, Any], computed_at: str) -> None:
        if self.columns is None:
            names = [c for c in row if c != "key"]
            self.columns = [c for c in KPI_COLUMNS if c in names] + [c for c in names if c not in KPI_COLUMNS]
            if self.fmt == "csv":
                self.out.write(output.to_csv([], ["key", *self.columns, "computed_at"]))
        shown = {"key": row.get("key"), **{c: row.get(c) for c in self.columns}, "computed_at": computed_at}
        if self.fmt == "json":
            self.out.write(output.dumps(shown, indent=None) + "\n")
        elif self.fmt == "csv":
            self.out.write(output.to_csv([shown], ["key", *self.columns, "computed_at"]).split("\n", 1)[1])
        else:
            key = "–" if shown["key"] is None else shown["key"]
            figures = "  ".join(f"{c}={_shown(c, shown[c], self.money)}" for c in self.columns)
            self.out.write(f"{computed_at}  {self.by}={key}  {figures}\n")
        self.out.flush()


async def follow(cfg: StreamConfig, tenant: str, by: str, on_row: Callable[[dict[str, Any], str], None],
                 *, from_beginning: bool = False, max_rows: int | None = None,
                 timeout: float | None = None) -> int:
    """Consume ``attain.kpi-updates`` (no consumer group); ``on_row(row, computed_at)`` for every
    changed row of ``tenant`` grouped ``by``."""
    from aiokafka import AIOKafkaConsumer

    # No group: every partition is read, nothing is committed, the next run starts afresh.
    consumer = AIOKafkaConsumer(cfg.kpi_topic, bootstrap_servers=cfg.brokers, group_id=None,
                                enable_auto_commit=False, client_id="attain-follow",
                                auto_offset_reset="earliest" if from_beginning else "latest")
    await consumer.start()
    n = 0
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while max_rows is None or n < max_rows:
            wait_ms = 1000
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                wait_ms = int(min(1.0, left) * 1000)
            batches = await consumer.getmany(timeout_ms=wait_ms)
            for msgs in batches.values():
                for m in msgs:
                    if m.value is None:
                        continue
                    upd = decode_update(m.value)
                    if upd.get("tenant") != tenant or upd.get("grouping") != by:
                        continue
                    for row in upd.get("rows") or []:
                        on_row(row, upd.get("computed_at", ""))
                        n += 1
                        if max_rows is not None and n >= max_rows:
                            return n
    finally:
        await consumer.stop()
    return n


def follow_kpis(tenant: str, by: str, fmt: str = "table", *, from_beginning: bool = False,
                max_rows: int | None = None, timeout: float | None = None,
                out: IO[str] | None = None, cfg: StreamConfig | None = None) -> int:
    """Print changed KPI rows of ``tenant`` grouped ``by`` until interrupted (or a limit)."""
    cfg = cfg or StreamConfig.from_env()
    ensure_topics(cfg)
    from attain.core import get_plugins

    money = frozenset(m.name for m in get_plugins().metrics.values() if m.unit == "money")
    printer = _Printer(by, fmt, out or sys.stdout, money | CORE_MONEY)
    try:
        return asyncio.run(follow(cfg, tenant, by, printer, from_beginning=from_beginning,
                                  max_rows=max_rows, timeout=timeout))
    except KeyboardInterrupt:
        return 0
