"""``attain sync salesforce``: the command line of the connector.

How the command finds its store is the one place that knows the core's command line
(:func:`_engine`): the root ``--db`` option, read from the click context (as ``attain
worker`` does; ``attain.core.cli.State`` would be a second copy of that module when the CLI runs
as ``python -m attain.core.cli``), opened with the core's ``Store`` and plugins.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Annotated, Any

import typer
from attain.core import ConnectorError, Engine, output
from attain.core.cli_kit import err, state
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .auth import AuthError
from .client import ApiError, SalesforceClient
from .config import PREFIX, ConfigError, Settings, load_settings, redactor
from .mapping import Mapping, MappingError, load_mapping
from .sinks import DryRunSink, EngineSink, KafkaSink, Sink
from .sync import SalesforceSync, Summary

PLUGIN = "crm_salesforce"


def _since(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO date or time (2017-03-01 or "
                                 "2017-03-01T12:00:00Z)", param_hint="--since") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _print(summary: Summary, sink: Sink, client: SalesforceClient, fmt: output.Format) -> None:
    published = getattr(sink, "published", None)
    usage = client.api_usage
    data: dict[str, Any] = {
        "tenant": summary.tenant, "mode": summary.mode,
        "objects": {k: v.as_dict() for k, v in summary.objects.items()},
        "engine": None if published is not None else sink.result.as_dict(),
        "published": published, "dry_run": isinstance(sink, DryRunSink),
        "api": {"calls": client.calls, "retries": client.retries,
                "reauthentications": client.reauthentications,
                "usage": None if usage is None else {"used": usage[0], "total": usage[1]}},
        "warnings": summary.warnings, "stopped": summary.stopped,
    }
    if fmt is output.Format.json:
        typer.echo(output.dumps(data))
        return
    title = "dry run, nothing written" if data["dry_run"] else summary.mode
    lines = [f"salesforce sync, tenant {summary.tenant} ({title}):"]
    for name, st in summary.objects.items():
        extra = "".join(f", {k} {v}" for k, v in (("events", st.events), ("skipped", st.skipped)) if v)
        lines.append(f"  {name:<12} read {st.read}{extra}")
    if published is not None:
        lines.append(f"published {published} events to the events topic")
    elif data["dry_run"]:
        lines.append(f"valid {sink.result.accepted}, invalid {sink.result.rejected}")
    else:
        lines.append(sink.result.summary())
    typer.echo("\n".join(lines))
    for w in summary.warnings:
        typer.echo(f"warning: {w}", err=True)


def sync_salesforce(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="Tenant to sync into.")] = "default",
    full: Annotated[bool, typer.Option("--full", help="Read everything again, not only what "
                                       "changed since the last sync.")] = False,
    since: Annotated[str | None, typer.Option("--since", help="Read what changed at or after this "
                                              "ISO date/time instead of from the stored marks.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Read and validate; write nothing.")] = False,
    publish: Annotated[bool, typer.Option("--publish", help="Send the events to Kafka "
                                          "(attain.events) instead of the embedded engine.")] = False,
    mapping: Annotated[str | None, typer.Option("--mapping", help="Field mapping YAML file (default: "
                                                f"${PREFIX}MAPPING).")] = None,
    secrets_file: Annotated[str | None, typer.Option("--secrets-file", help="YAML file of settings "
                                                     f"(default: ${PREFIX}SECRETS_FILE).")] = None,
    fmt: Annotated[output.Format, typer.Option("--format", "-f", help="Output format (table = text).")]
    = output.Format.table,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Sync Salesforce (users, accounts, products, opportunities, leads, tasks, events):
    the first run reads everything, later runs what changed (docs/salesforce.md)."""
    if dry_run and publish:
        raise typer.BadParameter("--dry-run and --publish exclude each other", param_hint="--publish")
    start = _since(since)
    try:
        settings = load_settings(secrets_file=secrets_file)
        field_map = load_mapping(mapping or os.environ.get(f"{PREFIX}MAPPING"), tenant)
    except (ConfigError, MappingError) as exc:
        raise ConnectorError(str(exc)) from None
    engine = state.engine()  # the store `attain --db` chose
    try:
        _run(engine, settings, field_map, tenant, full, start, dry_run, publish, fmt, quiet)
    finally:
        engine.store.dispose()


def _run(engine: Engine, settings: Settings, field_map: Mapping, tenant: str, full: bool,
         start: dt.datetime | None, dry_run: bool, publish: bool, fmt: output.Format,
         quiet: bool) -> None:
    if PLUGIN in engine.disabled(tenant):
        raise ConnectorError(f"plugin {PLUGIN!r} is disabled for tenant {tenant!r} "
                             f"(attain plugins enable {PLUGIN} --tenant {tenant})")
    sink: Sink
    if dry_run:
        sink = DryRunSink(engine, tenant)
    elif publish:
        from attain.streams.admin import KafkaUnavailable

        try:
            sink = KafkaSink(engine, tenant)
        except KafkaUnavailable as exc:
            raise ConnectorError(str(exc)) from None
    else:
        sink = EngineSink(engine, tenant)
    client = SalesforceClient(settings)
    redact = redactor(settings)
    show = not quiet and fmt is not output.Format.json
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, disable=not show or not err.is_terminal) as bar:
        tasks: dict[str, Any] = {}

        def progress(sobject: str, n: int, total: int | None) -> None:
            if sobject not in tasks:
                tasks[sobject] = bar.add_task(f"salesforce {sobject}", total=total)
            bar.advance(tasks[sobject], n)

        try:
            summary = SalesforceSync(client, field_map, tenant, engine.store.engine, sink,
                                     dt.timedelta(seconds=settings.lookback_seconds),
                                     progress).run(full=full, since=start)
        except (AuthError, ApiError, MappingError) as exc:
            raise ConnectorError(redact(str(exc)) + "; the sync stopped (what was committed is "
                                 "kept: run it again to resume)") from None
        finally:
            sink.close()
    _print(summary, sink, client, fmt)
    if summary.stopped:
        typer.echo(f"error: {redact(summary.stopped)}; the sync stopped with its high-water marks "
                   "kept: run it again later to resume", err=True)
        raise typer.Exit(1)


def register(cli: typer.Typer) -> None:
    """Add ``sync salesforce`` (and the ``sync`` group, unless another connector added it)."""
    group = next((g.typer_instance for g in cli.registered_groups if g.name == "sync"), None)
    if group is None:
        group = typer.Typer(help="Sync data from external systems (incremental).", no_args_is_help=True)
        cli.add_typer(group, name="sync")
    if not any(c.name == "salesforce" for c in group.registered_commands):
        group.command("salesforce")(sync_salesforce)
