"""``attain serve`` and ``attain tokens create|list|revoke``."""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from typing import Annotated

import typer
from attain.core import DEFAULT_TENANT, UserError, output
from attain.core.cli_kit import FormatOpt, TenantOpt, emit, state, user_errors
from attain.core.output import Format

from .tokens import ROLES, TokenError, TokenStore, parse_duration, token_row

tokens_app = typer.Typer(help="API tokens: create (printed once), list, revoke.", no_args_is_help=True)
_friendly = user_errors(TokenError)


def _tokens() -> TokenStore:
    return TokenStore(state.store().engine)


@tokens_app.command("create")
@_friendly
def create(
    role: Annotated[str, typer.Option("--role", help="admin, manager, rep or service.")],
    tenant: TenantOpt = DEFAULT_TENANT,
    rep: Annotated[str | None, typer.Option("--rep", help="The rep of a rep token.")] = None,
    manager: Annotated[str | None, typer.Option("--manager", help="The manager of a manager token "
                                                "(their team's reps).")] = None,
    expires: Annotated[str | None, typer.Option("--expires", help="Lifetime, e.g. 90d, 12h, 2w "
                                                "(default: none).")] = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Create a token and print it once (only its hash is stored)."""
    token, row = _tokens().create(tenant, role, rep=rep, manager=manager,
                                  expires=parse_duration(expires) if expires else None)
    if fmt is Format.json:
        typer.echo(output.dumps({"token": token, **token_row(row)}))
        return
    typer.echo(token)
    typer.echo(f"id {row.id}, tenant {row.tenant}, role {row.role}"
               + (f", rep {row.rep}" if row.rep else "") + (f", manager {row.manager}" if row.manager else "")
               + (f", expires {row.expires_at:%Y-%m-%d %H:%M} UTC" if row.expires_at else "")
               + " — store it now: it is not shown again", err=True)


@tokens_app.command("list")
def list_(tenant: TenantOpt = DEFAULT_TENANT, fmt: FormatOpt = Format.table) -> None:
    """The tenant's tokens (id, role, rep or manager, expiry, status; never the token)."""
    rows = [token_row(r) for r in _tokens().all(tenant)]
    emit(rows, ["id", "role", "rep", "manager", "created_at", "expires_at", "status"], fmt,
         f"API tokens (tenant {tenant})")


@tokens_app.command("revoke")
def revoke(token_id: Annotated[str, typer.Argument(help="The token's id (tokens list).")],
           tenant: TenantOpt = DEFAULT_TENANT) -> None:
    """Revoke a token: it is refused from the next request on."""
    if not _tokens().revoke(tenant, token_id):
        raise UserError(f"no token {token_id!r} in tenant {tenant!r}")
    typer.echo(f"token {token_id} revoked")


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes (metrics are added up over "
                                         "them through PROMETHEUS_MULTIPROC_DIR).")] = 1,
    sign_in: Annotated[bool, typer.Option("--sign-in-link", help="Print a sign-in link for the "
                                          "dashboard with a new admin token of TENANT that expires "
                                          "in one day.")] = False,
    tenant: TenantOpt = DEFAULT_TENANT,
) -> None:
    """Serve the API (/api/v1, /openapi.json, /healthz, /readyz, /metrics) and the dashboard (/)."""
    run(host, port, workers, tenant if sign_in else None)


def run(host: str, port: int, workers: int = 1, sign_in_tenant: str | None = None) -> None:
    try:
        import uvicorn

        from .app import create_app
    except ImportError as exc:
        raise UserError(f"attain serve needs the api extra: pip install 'attain[api]' ({exc.name} "
                        "is missing)") from None
    from attain.core import Engine, Store, get_plugins
    from attain.core.store import default_url

    url = state.db_url or default_url()
    if sign_in_tenant is not None:
        token, _ = TokenStore(state.store().engine).create(sign_in_tenant, "admin",
                                                           expires=dt.timedelta(days=1),
                                                           note="sign-in link")
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        # the token is in the fragment: browsers never send it, so no server or proxy logs it
        typer.echo(f"sign in: http://{shown}:{port}/#token={token}")
    if workers > 1:
        os.environ["ATTAIN_DATABASE_URL"] = url
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="attain-metrics-"))
        uvicorn.run("attain.plugins.api.app:app_from_env", factory=True, host=host, port=port,
                    workers=workers, log_level="info",
                    # a worker process loads every plugin and opens the store before it answers
                    # the supervisor's health check: give it time on a busy machine
                    timeout_worker_healthcheck=60)
        return
    engine = Engine(Store(url, run_migrations=False), get_plugins())
    uvicorn.run(create_app(engine), host=host, port=port, log_level="info")


def register(cli: typer.Typer) -> None:
    cli.add_typer(tokens_app, name="tokens")
    cli.command("serve")(serve)


__all__ = ["ROLES", "register", "run", "serve", "tokens_app"]
