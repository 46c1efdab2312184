"""The streams package as an Attain plugin (entry point ``streams`` of the ``attain`` group),
registered exactly as a partner's plugin would be: the core never imports ``attain.streams``.

* ``attain_register_commands`` — ``attain worker`` and ``attain publish``;
* ``attain_follow_kpis`` — what ``attain kpi --follow`` runs.

Nothing here imports Faust or a Kafka client: without the ``[streams]`` extra, ``attain`` works
and ``attain worker`` says what to install.
"""

from __future__ import annotations

from collections.abc import Callable

import typer
from attain.core import hookimpl


@hookimpl
def attain_register_commands(cli: typer.Typer) -> None:
    from .cli import register

    register(cli)


@hookimpl
def attain_follow_kpis(tenant: str, grouping: str, fmt: str, max_rows: int | None,
                       timeout: float | None) -> Callable[[], int]:
    from .cli import follow_kpis

    return lambda: follow_kpis(tenant=tenant, by=grouping, fmt=fmt, max_rows=max_rows, timeout=timeout)
