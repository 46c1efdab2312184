"""Stream commands of the ``attain`` CLI: ``worker``, ``publish`` and what ``kpi --follow`` runs
(registered by :mod:`attain.streams.plugin`).

Nothing here imports Faust or a Kafka client at module level, so ``attain --help`` stays fast and
works without them; each command imports what it needs when it runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO, Annotated

import typer

from .config import StreamConfig

BootstrapOpt = Annotated[str | None, typer.Option(
    "--bootstrap", help="Kafka brokers host:port[,host:port] (default: $ATTAIN_KAFKA_BOOTSTRAP "
    "or 127.0.0.1:9092).")]
PrefixOpt = Annotated[str | None, typer.Option(
    "--topic-prefix", help="Prefix of every topic name (default: $ATTAIN_KAFKA_TOPIC_PREFIX).")]


def _db_url(ctx: typer.Context) -> str | None:
    """The root ``--db`` option (read from the context: ``attain.core.cli`` may run as __main__)."""
    db = ctx.find_root().params.get("db")
    return db if isinstance(db, str) and db else None


def _fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(2)


def worker(
    ctx: typer.Context,
    bootstrap: BootstrapOpt = None,
    topic_prefix: PrefixOpt = None,
    app_id: Annotated[str | None, typer.Option(
        "--app-id", help="Faust app id = consumer group (default: $ATTAIN_FAUST_APP_ID or attain).")] = None,
    partitions: Annotated[int | None, typer.Option(
        help="Partitions of topics created at start-up (default: $ATTAIN_KAFKA_PARTITIONS or 4).")] = None,
    batch: Annotated[int | None, typer.Option(
        help="Most events per Engine.process call (default: $ATTAIN_STREAM_BATCH or 500).")] = None,
    within: Annotated[float | None, typer.Option(
        help="Seconds a partial batch waits for more events (default: $ATTAIN_STREAM_WITHIN or 0.02).")] = None,
    web_port: Annotated[int | None, typer.Option(
        "--web-port", help="Serve /metrics (Prometheus) on this port (default: "
        "$ATTAIN_WORKER_WEB_PORT; off when unset).")] = None,
    loglevel: Annotated[str, typer.Option(help="Log level of the worker.")] = "warning",
) -> None:
    """Run a stream worker: consume attain.events, update the store, publish KPI updates."""
    from .admin import KafkaUnavailable

    cfg = StreamConfig.from_env().with_(bootstrap=bootstrap, topic_prefix=topic_prefix, app_id=app_id,
                                        partitions=partitions, batch_size=batch, batch_within=within)
    if web_port is None and os.environ.get("ATTAIN_WORKER_WEB_PORT"):
        web_port = int(os.environ["ATTAIN_WORKER_WEB_PORT"])
    try:
        from .worker import run_worker
    except ImportError as exc:  # pragma: no cover - depends on the installation
        _fail(f"the worker needs Faust: pip install 'attain[streams]' ({exc})")
    try:
        run_worker(cfg, _db_url(ctx), web_port=web_port, loglevel=loglevel)
    except KafkaUnavailable as exc:
        _fail(str(exc))


def publish(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(
        help="A JSON Lines file of events ('-' reads standard input), or a connector name "
             "(e.g. crm-csv) followed by what it reads.")],
    connector_source: Annotated[str | None, typer.Argument(
        metavar="[CONNECTOR_SOURCE]", help="With a connector name: the folder, URL … it reads.")] = None,
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="Tenant for a connector's data.")] = "default",
    rate: Annotated[float | None, typer.Option(help="At most this many events per second.")] = None,
    bootstrap: BootstrapOpt = None,
    topic_prefix: PrefixOpt = None,
) -> None:
    """Publish events to attain.events: `attain publish FILE` or `attain publish crm-csv DIR`.

    Lines that are not valid events are published too: the worker dead-letters them. A connector's
    reference data (reps, accounts, products) is saved to the store (--db) directly.
    """
    from .admin import KafkaUnavailable
    from .publish import lines_items, publish_items, record_items

    cfg = StreamConfig.from_env().with_(bootstrap=bootstrap, topic_prefix=topic_prefix)
    if rate is not None and rate <= 0:
        raise typer.BadParameter("must be positive", param_hint="--rate")
    try:
        if connector_source is None:
            if source == "-":
                result = publish_items(cfg, lines_items(sys.stdin.buffer), rate)
            else:
                path = Path(source)
                if not path.is_file():
                    raise typer.BadParameter(f"no such file: {source} (to publish through a connector: "
                                             "attain publish CONNECTOR SOURCE)")
                with path.open("rb") as f:
                    result = publish_items(cfg, lines_items(f), rate)
        else:
            from attain.core import Engine, Store, get_plugins, read_through

            engine = Engine(Store(_db_url(ctx)), get_plugins())
            batch = read_through(engine, source, connector_source, tenant,
                                 warn=lambda w: typer.echo(f"warning: {w}", err=True))
            typer.echo(f"saved {len(batch.reps)} reps, {len(batch.accounts)} accounts, "
                       f"{len(batch.products)} products to {engine.store.display_url}", err=True)
            result = publish_items(cfg, record_items(batch.records), rate)
    except KafkaUnavailable as exc:
        _fail(str(exc))
    typer.echo(result.summary(cfg.events_topic))


def follow_kpis(tenant: str, by: str, fmt: str = "table", *, from_beginning: bool | None = None,
                max_rows: int | None = None, timeout: float | None = None,
                out: IO[str] | None = None) -> int:
    """What ``attain kpi --follow`` runs: print changed KPI rows until interrupted.

    Starts at the newest update; ``ATTAIN_FOLLOW_FROM_BEGINNING=1`` (or ``from_beginning``) replays
    the topic first. Returns the number of rows printed.
    """
    from .admin import KafkaUnavailable
    from .follow import follow_kpis as _follow

    if from_beginning is None:
        from_beginning = os.environ.get("ATTAIN_FOLLOW_FROM_BEGINNING", "") not in ("", "0", "false")
    try:
        return _follow(tenant, by, fmt, from_beginning=from_beginning, max_rows=max_rows,
                       timeout=timeout, out=out)
    except KafkaUnavailable as exc:
        _fail(str(exc))
        return 0


def register(app: typer.Typer) -> None:
    """Add ``worker`` and ``publish`` to the root command (once per application: the plugin
    manager calls ``attain_register_commands`` once per plugin and application)."""
    app.command("worker")(worker)
    app.command("publish")(publish)
