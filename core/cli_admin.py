"""The core's administrative commands: ``attain deadletter``, ``attain stats``, ``attain db`` and
``attain plugins`` (registered on the root application by :func:`register`)."""

from __future__ import annotations

import base64
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from . import output
from .cli_kit import DEFAULT_TENANT, FormatOpt, TenantOpt, console, state
from .output import Format
from .plugins import get_plugins

plugins_app = typer.Typer(help="List plugins and enable or disable them per tenant.", no_args_is_help=True)
deadletter_app = typer.Typer(help="Inspect events that were rejected.", no_args_is_help=True)
db_app = typer.Typer(help="The database schema: migrations of the core and of every plugin.",
                     no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the administrative commands to the root application."""
    app.add_typer(plugins_app, name="plugins")
    app.add_typer(deadletter_app, name="deadletter")
    app.add_typer(db_app, name="db")
    app.command()(stats)


# -- dead letters ---------------------------------------------------------------------------------


@deadletter_app.command("list")
def deadletter_list(
    tenant: TenantOpt = DEFAULT_TENANT,
    limit: Annotated[int, typer.Option(help="At most this many (0 = all).")] = 0,
    fmt: FormatOpt = Format.table,
) -> None:
    """List rejected inputs with where they came from and why.

    ``payload`` is the input as text. When that text is not exactly the input (bytes that are
    not UTF-8, a NUL character), ``payload_base64`` holds the original bytes (JSON and CSV)."""
    rows = [{"id": r.id, "source": r.source, "line": r.line, "reason": r.reason,
             "payload": r.payload, "created_at": r.created_at,
             "payload_base64": None if r.raw is None else base64.b64encode(r.raw).decode("ascii")}
            for r in state.store().deadletters(tenant, limit or None)]
    if fmt is Format.json:
        typer.echo(output.dumps(rows))
    elif fmt is Format.csv:
        typer.echo(output.to_csv(rows, ["id", "source", "line", "reason", "payload", "created_at",
                                        "payload_base64"]), nl=False)
    else:
        table = Table(title=Text(f"Dead letters (tenant {tenant}): {len(rows)}"))
        for c in ("source", "reason", "payload"):
            table.add_column(c, overflow="fold")
        for r in rows:
            p = str(r["payload"])
            table.add_row(Text(str(r["source"])), Text(str(r["reason"])),
                          Text(p if len(p) < 120 else p[:117] + "…"))
        console.print(table)


# -- counters ------------------------------------------------------------------------------------


def stats(
    tenant: TenantOpt = DEFAULT_TENANT,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json, csv or prometheus "
                                     "(text exposition format).")] = "table",
) -> None:
    """Counters: events accepted, duplicate, stale and rejected; plugin errors."""
    counters = dict(state.store().counters(tenant))
    for (kind, cur), n in state.engine().unconverted(tenant).items():  # gauges: current state
        counters[f'attain_unconverted_events{{type="{kind}",currency="{cur}"}}'] = n
    rows = [{"name": k, "value": v} for k, v in sorted(counters.items())]
    if fmt == "json":
        typer.echo(output.dumps(rows))
    elif fmt == "csv":
        typer.echo(output.to_csv(rows, ["name", "value"]), nl=False)
    elif fmt == "prometheus":
        typer.echo(prometheus_text(tenant, counters), nl=False)
    elif fmt == "table":
        table = Table(title=Text(f"Counters (tenant {tenant})"))
        table.add_column("name")
        table.add_column("value", justify="right")
        for r in rows:
            table.add_row(Text(str(r["name"])), str(r["value"]))
        console.print(table)
    else:
        raise typer.BadParameter("choose table, json, csv or prometheus", param_hint="--format")


def prometheus_text(tenant: str, counters: dict[str, int]) -> str:
    """Counters in the Prometheus text exposition format, labelled with the tenant."""
    lines: list[str] = []
    families: dict[str, list[tuple[str, int]]] = {}
    for name, value in sorted(counters.items()):
        family, _, labels = name.partition("{")
        families.setdefault(family, []).append((labels.rstrip("}"), value))
    # A label value escapes backslash, double quote and line feed (exposition format 0.0.4).
    quoted = tenant.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    for family, samples in families.items():
        lines.append(f"# TYPE {family} {'counter' if family.endswith('_total') else 'gauge'}")
        for labels, value in samples:
            all_labels = f'tenant="{quoted}"' + (f",{labels}" if labels else "")
            lines.append(f"{family}{{{all_labels}}} {value}")
    return "\n".join(lines) + "\n"


# -- database -------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(fmt: FormatOpt = Format.table) -> None:
    """Bring the schema to the newest migration: the core's, then every loaded plugin's
    (idempotent; the migration service of docker-compose.yml runs it before anything starts)."""
    from .store import Store, migrate, migration_status

    store = Store(state.db_url, run_migrations=False)
    try:
        sets = list(get_plugins().migrations.values())
        migrate(store.engine, sets)
        rows = migration_status(store.engine, sets)
    finally:
        store.dispose()
    if fmt is Format.json:
        typer.echo(output.dumps(rows))
        return
    for r in rows:
        typer.echo(f"{r['name']}: at {', '.join(r['current']) or '(none)'}")  # type: ignore[arg-type]
    typer.echo(f"schema is current ({len(rows)} migration set(s))")


# -- plugins --------------------------------------------------------------------------------------


@plugins_app.command("list")
def plugins_list(tenant: TenantOpt = DEFAULT_TENANT, fmt: FormatOpt = Format.table) -> None:
    """Installed plugins with version, hooks, what they provide and whether they are enabled."""
    plugins = get_plugins()
    disabled = state.store().disabled_plugins(tenant)
    rows = [{**p, "enabled": p["name"] not in disabled} for p in plugins.info()]
    if fmt is Format.json:
        typer.echo(output.dumps(rows))
        return
    if fmt is Format.csv:
        flat = [{**r, "hooks": " ".join(r["hooks"])} for r in rows]
        typer.echo(output.to_csv(flat, ["name", "distribution", "version", "enabled", "hooks"]), nl=False)
        return
    table = Table(title=Text(f"Plugins (tenant {tenant})"))
    for c in ("name", "version", "enabled", "hooks", "provides"):
        table.add_column(c, overflow="fold")
    for r in rows:
        provides = "; ".join(f"{k}: {', '.join(v)}" for k, v in r["provides"].items())
        table.add_row(Text(r["name"]), Text(str(r["version"] or "–")), "yes" if r["enabled"] else "no",
                      Text(", ".join(r["hooks"])), Text(provides))
    console.print(table)


def _set_enabled(name: str, tenant: str, enabled: bool) -> None:
    plugins = get_plugins()
    if name not in plugins.names():
        raise typer.BadParameter(f"no plugin named {name!r} (installed: {', '.join(plugins.names())})")
    if name == "core" and not enabled:
        raise typer.BadParameter("the core cannot be disabled")
    state.store().set_plugin_enabled(tenant, name, enabled)
    typer.echo(f"{name}: {'enabled' if enabled else 'disabled'} for tenant {tenant}")


@plugins_app.command("enable")
def plugins_enable(name: str, tenant: TenantOpt = DEFAULT_TENANT) -> None:
    """Enable a plugin for a tenant (plugins are enabled by default)."""
    _set_enabled(name, tenant, True)


@plugins_app.command("disable")
def plugins_disable(name: str, tenant: TenantOpt = DEFAULT_TENANT) -> None:
    """Disable a plugin for a tenant: its metrics and hooks no longer apply there."""
    _set_enabled(name, tenant, False)
