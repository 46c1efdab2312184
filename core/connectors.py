"""The connector protocol: how an external system's data becomes Attain events.

A connector registered through ``attain_register_connectors`` is used by
``attain import <name> SOURCE`` (and ``attain publish <name> SOURCE`` to send it to Kafka).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .batching import batched
from .models import Account, Product, Rep
from .records import Record, Result

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from .engine import Engine

#: ``checkpoint(conn, records)``: runs inside the transaction that commits ``records``
Checkpoint = Callable[["Connection", Sequence[Record]], None]


@dataclass
class Batch:
    """What a connector read: reference data, and events to validate and apply.

    ``records`` may be lazy; ``total`` (if known) sizes the progress bar. ``warnings``: what the
    user should know about the source that is not an error (``attain import`` prints each one
    as a ``warning:`` line on standard error).

    ``checkpoint`` (incremental connectors): ``checkpoint(conn, records)`` is called inside the
    transaction of every batch of ``records`` the import commits, so a high-water mark written
    there on ``conn`` commits together with those events, or not at all (a sync interrupted
    anywhere resumes from the last committed batch). ``records`` come in the order the
    connector yielded them.
    """

    records: Iterable[Record]
    reps: list[Rep] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    products: list[Product] = field(default_factory=list)
    total: int | None = None
    warnings: list[str] = field(default_factory=list)
    checkpoint: Checkpoint | None = None


@runtime_checkable
class Connector(Protocol):
    name: str
    description: str

    def read(self, source: str, tenant: str) -> Batch:
        """Read ``source`` (a path, URL or connection name) for ``tenant``.

        A connector that keeps state in the store (a high-water mark) declares a keyword
        parameter ``engine``, ``read(self, source, tenant, engine=None)``: :func:`read_through`
        then passes the :class:`~attain.core.Engine` the import writes to.
        """
        ...


class ConnectorError(Exception):
    """The source cannot be read at all (missing file, wrong layout, unreachable API)."""


def read_through(engine: Engine, connector: str, source: str, tenant: str,
                 warn: Callable[[str], None] | None = None) -> Batch:
    """Read ``source`` through the registered connector ``connector`` for ``tenant``: the one
    way every command (``attain import``, ``attain publish``) imports through a connector.

    Refuses (:class:`ConnectorError`) an unknown connector and one whose plugin is disabled for
    the tenant; passes each of the batch's warnings to ``warn``; saves the batch's reference
    data (reps, accounts, products) to the engine's store. Returns the batch, whose records the
    caller processes (``Engine.process``) or publishes.
    """
    conn = engine.plugins.connectors.get(connector)
    if conn is None:
        known = ", ".join(sorted(engine.plugins.connectors)) or "none"
        raise ConnectorError(f"no connector named {connector!r} (installed: {known})")
    owner = engine.plugins.owner("connectors", connector)
    if owner is not None and owner.plugin in engine.disabled(tenant):
        raise ConnectorError(f"connector {connector!r} belongs to plugin {owner.plugin!r}, which is "
                             f"disabled for tenant {tenant!r} (attain plugins enable {owner.plugin} "
                             f"--tenant {tenant})")
    if "engine" in inspect.signature(conn.read).parameters:
        batch = conn.read(source, tenant, engine=engine)  # type: ignore[call-arg]
    else:
        batch = conn.read(source, tenant)
    for warning in batch.warnings:
        if warn is not None:
            warn(warning)
    engine.save_dimensions(tenant, batch.reps, batch.accounts, batch.products)
    return batch


def process_batch(engine: Engine, batch: Batch, tenant: str, batch_size: int = 5000,
                  advance: Callable[[int], None] | None = None) -> Result:
    """Process a connector's ``batch`` (from :func:`read_through`) into ``engine``: its records
    in batches of ``batch_size``, one transaction each, with the batch's ``checkpoint`` inside
    each transaction. ``advance(n)`` is told after each committed batch. What ``attain import``
    runs; the connector contract suite (:mod:`attain.testing.contract`) runs it too.
    """
    result = Result()
    for chunk in batched(batch.records, batch_size):
        hook = None
        if batch.checkpoint is not None:
            def hook(conn: Connection, chunk: Sequence[Record] = chunk,
                     checkpoint: Checkpoint = batch.checkpoint) -> None:
                checkpoint(conn, chunk)
        result.add(engine.process(chunk, tenant=tenant, default_tenant=tenant, in_transaction=hook))
        if advance is not None:
            advance(len(chunk))
    return result
