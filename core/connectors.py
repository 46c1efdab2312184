"""The connector protocol: how an external system's data becomes Attain events.

A connector registered through ``attain_register_connectors`` is used by
``attain import <name> SOURCE`` (and ``attain publish <name> SOURCE`` to send it to Kafka).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from .engine import Record
from .models import Account, Product, Rep


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
