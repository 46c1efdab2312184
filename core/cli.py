"""The ``attain`` command line (typer). Every read command takes ``--format json``."""

from __future__ import annotations

import gc
import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from . import cli_admin as admin
from . import output
from .cli_kit import DEFAULT_TENANT, FormatOpt, TenantOpt, console, err, fitted_tables, state
from .errors import ErrorHandlingGroup, UserError, debug_enabled
from .output import Format
from .periods import PeriodError
from .plugins import PluginError, get_plugins

if TYPE_CHECKING:  # imported by the commands that use them: `attain --help` starts fast
    from rich.progress import Progress

    from .engine import Engine
    from .records import Record, Result

#: the groupings of ``attain kpi --by`` (= ``attain.core.kpi.GROUPINGS``, checked by a test; not
#: imported here so that ``attain --help`` does not import the KPI and event models)
GROUPING_NAMES = ("all", "rep", "manager", "region", "product", "series", "sector", "account",
                  "quarter", "year", "month", "week", "day")

app = typer.Typer(name="attain", help="Attain: live sales KPIs, goals and commissions from CRM events.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  cls=ErrorHandlingGroup)



#: the dependencies ``attain --version`` reports (the ones a bug report most often needs)
VERSION_OF = ("pydantic", "SQLAlchemy", "alembic", "pluggy", "typer", "faust-streaming", "aiokafka",
              "psycopg")


def version_text() -> str:
    """``attain X.Y.Z`` and the installed versions of the key dependencies (or "not installed")."""
    from importlib.metadata import PackageNotFoundError, version

    def of(dist: str) -> str:
        try:
            return version(dist)
        except PackageNotFoundError:
            return "not installed"

    lines = [f"attain {of('attain')} (Python {sys.version.split()[0]})"]
    lines += [f"  {dist} {of(dist)}" for dist in VERSION_OF]
    return "\n".join(lines)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    db: Annotated[str | None, typer.Option("--db", help="Database URL (default: $ATTAIN_DATABASE_URL "
                                           "or a SQLite file in your data directory).")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an error (also "
                                        "ATTAIN_DEBUG=1).")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print the version of Attain and of its key "
                                          "dependencies, and exit.")] = False,
) -> None:
    state.use(db)
    if debug:
        os.environ["ATTAIN_DEBUG"] = "1"
    ErrorHandlingGroup.db_url = db or os.environ.get("ATTAIN_DATABASE_URL")
    if ctx.invoked_subcommand != "worker":  # a Faust worker logs in Faust's own format
        _configure_logging()


class _OneLine(logging.Formatter):
    """Log records as ``warning: message``; a traceback only with --debug."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            if debug_enabled():
                return text + "\n" + self.formatException(record.exc_info)
            text += f" ({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''})"
        return text


def _configure_logging() -> None:
    root = logging.getLogger("attain")
    if not any(getattr(h, "_attain_cli", False) for h in root.handlers):
        handler = logging.StreamHandler()
        handler._attain_cli = True  # type: ignore[attr-defined]
        handler.setFormatter(_OneLine())
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if debug_enabled() else logging.WARNING)


def _progress(disable: bool = False) -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=err, disable=disable or not err.is_terminal,
                    transient=False)


def run_records(engine: Engine, records: Any, total: int | None, tenant: str | None,
                label: str, batch_size: int = 5000, quiet: bool = False,
                linger: float | None = None) -> Result:
    """Process ``records`` in batches of ``batch_size`` (one transaction each); with ``linger``,
    a batch is also committed when the input pauses that many seconds."""
    from .batching import batched
    from .records import Result

    result = Result()
    with _progress(disable=quiet) as progress:
        task = progress.add_task(label, total=total)
        for batch in batched(records, batch_size, linger):
            result.add(engine.process(batch, tenant=tenant, default_tenant=tenant or DEFAULT_TENANT))
            progress.advance(task, len(batch))
    return result


# -- schema ---------------------------------------------------------------------------------------


@app.command()
def schema() -> None:
    """Print the JSON Schema of every event type."""
    from .models import event_json_schema

    console.print_json(output.dumps(event_json_schema()))


# -- import / ingest ------------------------------------------------------------------------------


@app.command("import")
def import_(
    connector: Annotated[str, typer.Argument(help="Connector name, e.g. crm-csv.")],
    source: Annotated[str, typer.Argument(help="What the connector reads (a folder, a URL …).")],
    tenant: TenantOpt = DEFAULT_TENANT,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    reporting: Annotated[str | None, typer.Option(
        "--reporting-currency", help="With `import fx`: the tenant's reporting currency "
        "(default USD).")] = None,
) -> None:
    """Import data through a registered connector (e.g. `attain import crm-csv DIR`), or
    exchange rates: `attain import fx FILE.csv` (columns date, currency, rate)."""
    if connector == "fx":
        import_fx(source, tenant, reporting)
        return
    if reporting is not None:
        raise typer.BadParameter("only with `attain import fx`", param_hint="--reporting-currency")
    result = import_source(state.engine(), connector, source, tenant, quiet=quiet)
    typer.echo(result.summary())


def import_fx(source: str, tenant: str, reporting: str | None) -> None:
    """Exchange rates (reference data: imported whole or not at all); rebuilds the KPIs."""
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read it ({type(exc).__name__})") from None
    if reporting is not None and not re.fullmatch(r"[A-Z]{3}", reporting):
        raise UserError(f"--reporting-currency {reporting!r} is not a 3-letter code (USD)")
    from .fx import parse_fx_csv

    try:
        rows = parse_fx_csv(text, path.name)
    except ValueError as exc:
        raise UserError(f"{exc}; nothing was imported") from None
    rates = state.engine().save_rates(tenant, rows, reporting)
    typer.echo(f"{len(rows)} rates imported for {len(rates.table)} currencies; "
               f"reporting currency {rates.reporting}")


def import_source(engine: Engine, connector: str, source: str, tenant: str,
                  quiet: bool = False) -> Result:
    """``attain import``: read through the connector (:func:`attain.core.read_through`) and
    process its records in batches."""
    from .connectors import process_batch, read_through

    batch = read_through(engine, connector, source, tenant,
                         warn=lambda w: typer.echo(f"warning: {w}", err=True))
    with _progress(disable=quiet) as progress:
        task = progress.add_task(f"importing {connector}", total=batch.total)
        return process_batch(engine, batch, tenant, advance=lambda n: progress.advance(task, n))


def _lines(stream: IO[bytes], name: str) -> Iterator[Record]:
    from .records import Record

    for i, raw in enumerate(stream, start=1):
        line = raw.strip()
        if not line:
            continue
        yield Record(line, name, i, numbered=True)


@app.command()
def ingest(
    file: Annotated[str, typer.Argument(help="JSON Lines file of events; - reads standard input.")],
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="Tenant for events that name "
                                               "none; events naming another tenant are rejected.")] = None,
    batch_size: Annotated[int, typer.Option(help="Events per transaction (at most).")] = 50000,
    linger: Annotated[float, typer.Option(help="Standard input: also commit a batch when no line "
                                          "arrived for this many seconds, so a live pipe counts "
                                          "as it flows.")] = 0.2,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Ingest JSON Lines events. Invalid lines go to the dead-letter store; valid ones count."""
    engine = state.engine()
    gc.freeze()  # start-up objects (modules, schemas) need no rescanning by the cyclic GC
    if file == "-":
        result = run_records(engine, _lines(sys.stdin.buffer, "stdin"), None, tenant, "ingesting",
                             batch_size, quiet, linger=linger)
    else:
        path = Path(file)
        if path.is_dir():
            raise UserError(f"{file} is a directory, not a file of events")
        if not path.exists():
            raise UserError(f"no such file: {file}")
        with path.open("rb") as f:
            result = run_records(engine, _lines(f, path.name), None, tenant, "ingesting",
                                 batch_size, quiet)
    typer.echo(result.summary())


# -- KPIs -----------------------------------------------------------------------------------------

KPI_COLUMNS = ["won_revenue", "won_deals", "lost_deals", "open_deals", "win_rate",
               "avg_deal_size", "avg_cycle_days", "pipeline_value"]


@app.command()
def kpi(
    by: Annotated[str, typer.Option("--by", "-b", help="Grouping: " + ", ".join(GROUPING_NAMES) +
                                    "; several at once with commas (region,quarter).")] = "rep",
    period: Annotated[str | None, typer.Option(
        "--period", "-p", help="Only this period: 2017, 2017-Q3, 2017-07, 2017-W27, 2017-07-14 "
        "or 2017-07-01..2017-08-15 (open deals have no KPI day and are left out).")] = None,
    metrics: Annotated[str | None, typer.Option(
        "--metrics", "-m", help="Only these columns (metric names, comma-separated).")] = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    fmt: FormatOpt = Format.table,
    follow: Annotated[bool, typer.Option("--follow", help="Keep printing changed KPI rows as the "
                                         "stream updates them (needs Kafka).")] = False,
    max_updates: Annotated[int | None, typer.Option(
        "--max-updates", min=1, help="With --follow: stop after printing this many rows.")] = None,
    timeout: Annotated[float | None, typer.Option(
        "--timeout", min=0, help="With --follow: stop after this many seconds.")] = None,
) -> None:
    """KPIs per group, sorted by won revenue (definitions: README, 'KPI definitions').

    With several groupings, a JSON row's "key" is the list of its groups (in the order of --by);
    CSV and table output have one column per grouping."""
    from .rollups import GroupingError, parse_groupings, parse_read_period

    try:
        groups = parse_groupings(by)
        per = None if period is None else parse_read_period(period)
    except (GroupingError, PeriodError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--by" if "grouping" in str(exc) else "--period") from None
    names = None if metrics is None else [m.strip() for m in metrics.split(",") if m.strip()]
    if follow:
        if len(groups) > 1 or per is not None or names is not None:
            raise typer.BadParameter("--follow takes one grouping, without --period/--metrics",
                                     param_hint="--follow")
        follower = get_plugins().follower(tenant, by, fmt.value, max_updates, timeout)
        if follower is None:
            raise UserError("kpi --follow needs the streams plugin: pip install 'attain[streams]'")
        follower()
        return
    if max_updates is not None or timeout is not None:
        raise typer.BadParameter("only with --follow", param_hint="--max-updates/--timeout")
    engine = state.engine()
    try:
        rows = engine.kpis(tenant, groups, period=per, metrics=names,
                           period_metrics=fmt is not Format.table)
    except GroupingError as exc:
        raise typer.BadParameter(str(exc), param_hint="--metrics") from None
    for (kind, cur), n in engine.unconverted(tenant).items():
        err.print(f"warning: {n} {kind} event(s) in {cur} have no exchange rate to "
                  f"{engine.rates(tenant).reporting} and are left out of the figures "
                  f"(attain import fx FILE.csv)", markup=False, highlight=False)
    # the table hides the period metrics (in_table=False), so only JSON and CSV compute them
    shown: list[Any] = [*engine.metrics(tenant), *engine.period_metrics(tenant)]
    if names is not None:
        columns = list(dict.fromkeys(names))
    else:
        all_names = [m.name for m in shown]
        columns = [c for c in KPI_COLUMNS if c in all_names] + [n for n in all_names if n not in KPI_COLUMNS]
    if fmt is Format.json:
        typer.echo(output.dumps([{"key": r["key"], **{c: r.get(c) for c in columns}} for r in rows]))
        return
    single = len(groups) == 1
    if fmt is Format.csv:
        flat = rows if single else [{**dict(zip(groups, r["key"], strict=True)), **r} for r in rows]  # type: ignore[call-overload]
        typer.echo(output.to_csv(flat, ["key", *columns] if single else [*groups, *columns]), nl=False)
        return
    units = {m.name: m.unit for m in shown}
    hidden = {m.name for m in shown if not m.in_table} if names is None else set()
    if hidden:
        columns = [c for c in columns if c not in hidden]
        err.print(f"{len(hidden)} more KPIs (e.g. {', '.join(sorted(hidden)[:3])}) are in "
                  f"--format json or csv, or pick them with --metrics", markup=False, highlight=False)
    title = f"KPIs by {', '.join(groups)}" + (f" in {per.label}" if per is not None else "")
    cells = []
    for r in rows:
        keys = [r["key"]] if single else list(r["key"])  # type: ignore[call-overload]
        cells.append([*[str(k) if k is not None else "–" for k in keys],
                      *[output.money(r.get(c)) if units.get(c) == "money" else output.plain(r.get(c))
                        for c in columns]])
    for part in fitted_tables(f"{title} (tenant {tenant})", groups, columns, cells, right=columns,
                              width=console.width):
        console.print(part)


# -- demo -----------------------------------------------------------------------------------------


def bundled_data() -> Path:
    return Path(str(resources.files("attain.core.data") / "crm-sales-opportunities"))


def _demo_url(keep: bool) -> str:
    """The demo's database: ``--db`` / ``ATTAIN_DATABASE_URL``, else a SQLite file in the data
    directory (emptied first unless ``keep``)."""
    if state.db_url or os.environ.get("ATTAIN_DATABASE_URL"):
        return state.db_url or os.environ["ATTAIN_DATABASE_URL"]
    import platformdirs

    path = Path(platformdirs.user_data_dir("attain")) / "demo.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not keep:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{path}"


@app.command()
def demo(
    fmt: FormatOpt = Format.table,
    keep: Annotated[bool, typer.Option(help="Add to the existing demo database instead of "
                                       "starting fresh.")] = False,
    full: Annotated[bool, typer.Option("--full", help="Also import SYNTHETIC leads, activities, "
                                       "costs, renewals and rep start dates (the kpis plugin's "
                                       "kpis-demo connector; seeded, the same every time).")] = False,
    serve: Annotated[bool, typer.Option("--serve", help="Then serve the dashboard of the demo data "
                                        "(the api plugin) and print a sign-in link.")] = False,
    host: Annotated[str, typer.Option(help="With --serve: the address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="With --serve: the port to listen on.")] = 8000,
) -> None:
    """Import the bundled CRM data set into a fresh local database and show live KPIs."""
    server = None
    if serve:
        server = get_plugins().server(host, port, DEFAULT_TENANT, sign_in=True)
        if server is None:
            raise UserError("demo --serve needs the api plugin: pip install 'attain[api]'")
    url = _demo_url(keep)
    state.use(url)
    started = time.perf_counter()
    engine = state.engine()
    result = import_source(engine, "crm-csv", str(bundled_data()), DEFAULT_TENANT,
                           quiet=fmt is Format.json)
    if full:
        if "kpis-demo" not in engine.plugins.connectors:
            raise UserError("demo --full needs the kpis plugin (its kpis-demo connector)")
        result.add(import_source(engine, "kpis-demo", str(bundled_data()), DEFAULT_TENANT,
                                 quiet=fmt is Format.json))
    elapsed = time.perf_counter() - started
    reps = engine.kpis(DEFAULT_TENANT, "rep")
    summary = engine.kpis(DEFAULT_TENANT, "all")
    regions = engine.kpis(DEFAULT_TENANT, "region")
    if fmt is Format.json:
        typer.echo(output.dumps({"database": url, "import": result.as_dict(),
                                 "seconds": round(elapsed, 2), "summary": summary[0] if summary else None,
                                 "regions": regions, "leaderboard": reps}))
        if server is not None:
            server()
        return
    err.print(f"[green]imported[/green] {result.summary()} in {elapsed:.1f} s")
    err.print(f"into {escape(url)}", soft_wrap=True)
    board = Table(title="Leaderboard: won revenue by rep")
    # Headers in words (they wrap onto two lines), figures never cut: fits an 80-column terminal.
    for c in ("#", "rep", "won\nrevenue", "won", "win\nrate", "avg deal\nsize", "pipeline\nvalue"):
        board.add_column(c, justify="left" if c == "rep" else "right", no_wrap=c != "rep")
    for i, r in enumerate(reps[:10], start=1):
        board.add_row(str(i), Text(str(r["key"])), output.money(r["won_revenue"]), output.plain(r["won_deals"]),
                      output.plain(r["win_rate"]), output.money(r["avg_deal_size"]),
                      output.money(r["pipeline_value"]))
    console.print(board)
    if summary:
        s = summary[0]
        t = Table(title="Company KPIs", show_header=False)
        t.add_column("kpi")
        t.add_column("value", justify="right")
        for c in KPI_COLUMNS:
            v = s.get(c)
            t.add_row(c, output.money(v) if c in ("won_revenue", "avg_deal_size", "pipeline_value")
                      else output.plain(v))
        console.print(t)
    # soft_wrap: a long database path is never cut by a hard line break (copy and paste works)
    console.print(f"Explore: attain --db {url} kpi --by region", markup=False, highlight=False,
                  soft_wrap=True)
    console.print("(or --by manager, product, sector, quarter)", markup=False, highlight=False)
    if server is not None:
        server()


admin.register(app)  # stats, plugins, deadletter, db (core/cli_admin.py)


# -- entry point ----------------------------------------------------------------------------------


def build_app() -> typer.Typer:
    """The root application with every plugin's commands (each added once, however often this
    is called)."""
    get_plugins().register_commands(app)
    return app


def main() -> None:
    from . import cli_kit

    cli_kit.FREEZE_START_UP = True  # this process is the command's (not a test's, say)
    try:
        with cli_kit.start_up():
            root = build_app()
        root(standalone_mode=True)
    except Exception as exc:  # a plugin error raised while the plugins load, before any command
        from .connectors import ConnectorError

        if not isinstance(exc, (PluginError, ConnectorError)) or debug_enabled():
            raise
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
