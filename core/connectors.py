"""The connector protocol: how an external system's data becomes Attain events.

A connector registered through ``attain_register_connectors`` is used by
``attain import <name> SOURCE`` (and ``attain publish <name> SOURCE`` to send it to Kafka).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .models import Account, Product, Rep
from .records import Record

if TYPE_CHECKING:
    from .engine import Engine


@dataclass
class Batch:
    """What a connector read: reference data, and events to validate and apply.

    ``records`` may be lazy; ``total`` (if known) sizes the progress bar. ``warnings``: what the
    user should know about the source that is not an error (``attain import`` prints each one
    as a ``warning:`` line on standard error).
    """

    records: Iterable[Record]
    reps: list[Rep] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    products: list[Product] = field(default_factory=list)
    total: int | None = None
    warnings: list[str] = field(default_factory=list)


@runtime_checkable
class Connector(Protocol):
    name: str
    description: str

    def read(self, source: str, tenant: str) -> Batch:
        """Read ``source`` (a path, URL or connection name) for ``tenant``."""
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
    batch = conn.read(source, tenant)
    for warning in batch.warnings:
        if warn is not None:
            warn(warning)
    engine.save_dimensions(tenant, batch.reps, batch.accounts, batch.products)
    return batch
