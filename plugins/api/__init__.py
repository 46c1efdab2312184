"""The ``api`` plugin: the HTTP API, the live dashboard and API tokens (docs/api.md).

Hooks implemented:

* ``attain_register_migrations`` — the plugin's table of API tokens (``migrations/``);
* ``attain_register_commands`` — ``attain serve`` and ``attain tokens create|list|revoke``;
* ``attain_serve`` — what ``attain demo --serve`` runs: this server over the demo database.

The application itself (FastAPI, served by uvicorn) is :func:`attain.plugins.api.app.create_app`;
it needs the ``api`` extra (``pip install 'attain[api]'``), the commands say so when it is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import typer
from attain.core import Migrations, hookimpl


@hookimpl
def attain_register_migrations(register: Callable[[Migrations], None]) -> None:
    register(Migrations("api", Path(__file__).parent / "migrations", "API tokens"))


@hookimpl
def attain_register_commands(cli: typer.Typer) -> None:
    from .cli import register

    register(cli)


@hookimpl
def attain_serve(host: str, port: int, tenant: str, sign_in: bool) -> Callable[[], None]:
    from .cli import run

    return partial(run, host, port, 1, tenant if sign_in else None)
