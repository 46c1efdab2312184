"""The command-line kit every ``attain`` command uses, the core's and the plugins'.

* :data:`TenantOpt`, :data:`FormatOpt` — the ``--tenant`` and ``--format`` options;
* :func:`emit` — rows as a table, exact JSON or CSV;
* :class:`user_errors` — a decorator (or ``with`` block) that turns a plugin's own error types
  into ``error: …`` line(s) on standard error and exit status 2; everything else escapes to the
  root group (:mod:`attain.core.errors`), which prints one line for it;
* :func:`lazy_commands` — a plugin's commands, imported only when one of them runs (so
  ``attain --help`` does not import every plugin's command modules);
* :func:`engine_from` / :data:`state` — the engine of the database chosen with ``--db``;
  :meth:`CliState.reset` forgets it (tests run many commands in one process);
* :func:`start_up` — a block of a command's start (its imports) run without the cyclic garbage
  collector.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import ContextDecorator, contextmanager
from typing import TYPE_CHECKING, Annotated, Any, Final

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from . import output
from .errors import UserError
from .lazy_cli import lazy_commands
from .output import Format
from .plugins import get_plugins

if TYPE_CHECKING:  # imported when a command needs them (`attain --help` needs neither)
    from .engine import Engine
    from .store import Store

#: = ``attain.core.store.DEFAULT_TENANT`` (a test checks it): defined here as well so that
#: declaring a command's ``--tenant`` default does not import the store (and SQLAlchemy)
DEFAULT_TENANT: Final = "default"

console = Console()
err = Console(stderr=True)

TenantOpt = Annotated[str, typer.Option("--tenant", "-t", help="Tenant (business) to work on.")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]


#: set by :func:`attain.core.cli.main` (the process is the command's own): the end of each
#: :func:`start_up` block also freezes what the start allocated (:func:`gc.freeze`)
FREEZE_START_UP = False


@contextmanager
def start_up() -> Iterator[None]:
    """Run the block (a command's imports) without the cyclic garbage collector, restored after
    it. Importing the modules and building pydantic's and SQLAlchemy's structures allocates tens
    of thousands of objects that live as long as the process; the collections their allocations
    triggered re-scanned them over and over, and the interpreter's exit scanned them once more
    (measured on 2026-12-02: ``attain kpi`` 0.72 s of CPU with them, 0.48 s without). In the
    command's own process (:data:`FREEZE_START_UP`) they are also frozen at the end
    (:func:`gc.freeze`), so later collections skip them: a short command pays no scan of them at
    all, a long one (a server, a worker) scans only what it allocates itself; the price is that
    the few reference cycles the imports leave as garbage are never freed (kilobytes, once).
    Not around work whose size depends on the data (a new database's migrations): its garbage
    must stay collectable."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if FREEZE_START_UP:
            gc.freeze()
        if enabled:
            gc.enable()


class CliState:
    """The database the running command works on (``attain --db URL …``)."""

    def __init__(self) -> None:
        self.db_url: str | None = None
        self._store: Store | None = None

    def store(self) -> Store:
        if self._store is None:
            with start_up():  # (not the migrations a new database may need: they may be long)
                from .store import Store
            self._store = Store(self.db_url)
        return self._store

    def engine(self) -> Engine:
        with start_up():
            from .engine import Engine
        return Engine(self.store(), get_plugins())

    def use(self, db_url: str | None) -> None:
        """Work on ``db_url`` from now on (closing the store of the previous one)."""
        self.reset()
        self.db_url = db_url

    def reset(self) -> None:
        """Close the store and forget the database (between in-process invocations)."""
        if self._store is not None:
            self._store.dispose()
        self._store = None
        self.db_url = None


#: the process's command-line state
state = CliState()


def engine_from(ctx: typer.Context | None = None) -> Engine:
    """The engine of the database the command was given (``--db``, else the default)."""
    return state.engine()


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: Format | str, title: str,
         money: Sequence[str] = ()) -> None:
    """Print ``rows`` as exact JSON, CSV (``columns``) or a table titled ``title`` whose
    ``money`` columns are right-aligned amounts."""
    fmt = Format(str(fmt))
    if fmt is Format.json:
        typer.echo(output.dumps(list(rows)))
    elif fmt is Format.csv:
        typer.echo(output.to_csv(list(rows), list(columns)), nl=False)
    else:
        console.print(table(rows, columns, title, money))


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str,
          money: Sequence[str] = ()) -> Table:
    t = Table(title=title)
    for c in columns:
        t.add_column(c, justify="right" if c in money else "left", overflow="fold")
    for r in rows:
        t.add_row(*[output.money(r.get(c)) if c in money else output.plain(r.get(c)) for c in columns])
    return t


def fitted_tables(title: str, keys: Sequence[str], columns: Sequence[str],
                  rows: Sequence[Sequence[str]], right: Sequence[str] = (),
                  width: int | None = None) -> list[Table]:
    """``rows`` (the cells of ``keys`` then of ``columns``, as text) as one table, or, when that
    is wider than ``width`` (the terminal's), as several that each fit: every part repeats the
    key columns and takes as many of the other columns as fit, in order, titled
    ``"<title>: columns 1–5 of 21"``. No figure is cut as long as the key columns and any one
    other column fit in ``width`` together (keep the keys few: one id column, not three)."""
    width = width or console.width
    n = len(keys)
    need = [max([len(h)] + [len(r[i]) for r in rows]) + 3 for i, h in enumerate([*keys, *columns])]
    base = 1 + sum(need[:n])
    parts: list[list[int]] = [[]]
    used = base
    for i in range(n, n + len(columns)):
        if parts[-1] and used + need[i] > width:
            parts.append([])
            used = base
        parts[-1].append(i)
        used += need[i]
    tables = []
    for part in parts:
        first, last = part[0] - n + 1, part[-1] - n + 1
        span = f"column {first}" if first == last else f"columns {first}–{last}"
        label = title if len(parts) == 1 else f"{title}: {span} of {len(columns)}"
        t = Table(title=Text(label))
        # fixed widths (the longest cell): rich then measures no cell, which was most of the
        # time of a long table
        for i, h in enumerate(keys):
            t.add_column(h, width=need[i] - 3, no_wrap=True)
        for i in part:
            h = columns[i - n]
            t.add_column(h, justify="right" if h in right else "left", no_wrap=True, width=need[i] - 3)
        # one cell per column, its rows as lines (no cell wraps, so they stay aligned): the same
        # drawing as one cell per figure, which rich renders one by one (0.5 s for 200 rows of
        # 21 KPIs, most of `attain kpi`'s time)
        if rows:
            t.add_row(*[Text("\n".join(r[i] for r in rows)) for i in [*range(n), *part]])
        tables.append(t)
    return tables


def error_line(message: str, soft_wrap: bool = False) -> None:
    """One ``error: …`` line on standard error."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=soft_wrap)


def message_of(exc: BaseException) -> str:
    return str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)


class user_errors(ContextDecorator):  # noqa: N801 (used as a decorator)
    """Exceptions of ``types`` (and :class:`~attain.core.UserError`) become ``error: …`` on
    standard error and exit status 2, never a traceback.

    ``render(exc)`` prints an exception itself (several lines for a rejected file) and returns
    True, or returns False to get the default one line. ``soft_wrap``: do not wrap long lines.
    """

    def __init__(self, *types: type[BaseException],
                 render: Callable[[BaseException], bool] | None = None,
                 soft_wrap: bool = False) -> None:
        self.types: tuple[type[BaseException], ...] = (UserError, *types)
        self.render = render
        self.soft_wrap = soft_wrap

    def __enter__(self) -> user_errors:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or not isinstance(exc, self.types):
            return
        if self.render is None or not self.render(exc):
            error_line(message_of(exc), self.soft_wrap)
        raise typer.Exit(2) from None


__all__ = ["DEFAULT_TENANT", "CliState", "Format", "FormatOpt", "TenantOpt", "console", "emit",
           "engine_from", "err", "error_line", "lazy_commands", "message_of", "state", "table", "user_errors"]
