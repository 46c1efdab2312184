"""The ``api`` plugin: the HTTP API, the live dashboard and API tokens (docs/api.md).

Hooks implemented:

* ``attain_register_migrations`` — the plugin's table of API tokens (``migrations/``);
* ``attain_register_commands`` — ``attain serve`` and ``attain tokens create|list|revoke``;
* ``attain_serve`` — what ``attain demo --serve`` runs: this server over the demo database;
* ``attain_notify`` — the goals plugin's ``goal.status_changed`` notifications during a
  ``POST /api/v1/events`` batch, pushed as ``goal`` events on ``GET /api/v1/stream``
  (:mod:`.goal_feed`).

The application itself (FastAPI, served by uvicorn) is :func:`attain.plugins.api.app.create_app`;
it needs the ``api`` extra (``pip install 'attain[api]'``), the commands say so when it is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attain.core import hookimpl

if TYPE_CHECKING:  # imported by the hooks (`attain --help` loads this module and needs none)
    import typer
    from attain.core import Engine, Migrations

#: the commands, imported only when one runs (their one-line help, shown by `attain --help`)
COMMANDS = {
    "tokens": "API tokens: create (printed once), list, revoke.",
    "serve": "Serve the API (/api/v1, /openapi.json, /healthz, /readyz, /metrics) and the dashboard (/).",
}


@hookimpl
def attain_register_migrations(register: Callable[[Migrations], None]) -> None:
    from attain.core import Migrations

    register(Migrations("api", Path(__file__).parent / "migrations", "API tokens"))


@hookimpl
def attain_register_commands(cli: typer.Typer) -> None:
    from attain.core.cli_kit import lazy_commands

    lazy_commands(cli, "attain.plugins.api.cli:register", COMMANDS)


@hookimpl
def attain_serve(host: str, port: int, tenant: str, sign_in: bool) -> Callable[[], None]:
    from .cli import run

    return partial(run, host, port, 1, tenant if sign_in else None)


@hookimpl
def attain_notify(tenant: str, kind: str, payload: dict[str, Any], engine: Engine | None) -> None:
    if kind == "goal.status_changed":
        from .goal_feed import notified

        notified(tenant, kind, payload)
