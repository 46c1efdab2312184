"""The streams package as an Attain plugin (entry point ``streams`` of the ``attain`` group),
registered exactly as a partner's plugin would be: the core never imports ``attain.streams``.

* ``attain_register_commands`` — ``attain worker`` and ``attain publish``;
* ``attain_follow_kpis`` — what ``attain kpi --follow`` runs.

Nothing here imports Faust or a Kafka client: without the ``[streams]`` extra, ``attain`` works
and ``attain worker`` says what to install.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from attain.core import hookimpl

if TYPE_CHECKING:
    import typer


#: the commands ``cli.register`` adds, with their help (imported only when one of them runs)
COMMANDS = {"worker": "Run a stream worker: consume attain.events, update the store, publish KPI "
                      "updates.",
            "publish": "Publish events to attain.events: `attain publish FILE` or `attain publish "
                       "crm-csv DIR`."}


@hookimpl
def attain_register_commands(cli: typer.Typer) -> None:
    from attain.core.cli_kit import lazy_commands

    lazy_commands(cli, "attain.streams.cli:register", COMMANDS)


@hookimpl
def attain_follow_kpis(tenant: str, grouping: str, fmt: str, max_rows: int | None,
                       timeout: float | None) -> Callable[[], int]:
    from .cli import follow_kpis

    return lambda: follow_kpis(tenant=tenant, by=grouping, fmt=fmt, max_rows=max_rows, timeout=timeout)
