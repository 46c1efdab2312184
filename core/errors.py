"""One user-error path for the whole command line.

Every ``attain`` command, the core's and every plugin's, runs inside :class:`ErrorHandlingGroup`:
an exception that escapes a command becomes ONE line on standard error (``error: what and
where``) and a non-zero exit status, never a traceback. ``--debug`` (or ``ATTAIN_DEBUG=1``)
shows the traceback instead.

* :class:`UserError` (and the connector and plugin errors): the user can fix it (a bad file, a
  wrong name); exit status 2, the message as it is.
* Database, file-system and other environment failures: exit status 1, a message that names what
  failed (the database URL with its password hidden, the file) and the underlying reason.
* Anything else is a bug: exit status 1, the exception's type and message, and a hint to run with
  ``--debug``.

Secrets never appear: URLs in messages are shown with their password replaced by ``***``.
"""

from __future__ import annotations

import os
import re
from typing import Any

import typer
from typer.exceptions import TyperException

from .lazy_cli import LazyGroup


class UserError(Exception):
    """A problem the user can fix (bad input, an unknown name): shown as one line, exit 2."""


_URL_PASSWORD = re.compile(r"(\w+(?:\+\w+)?://[^:/@\s]*:)[^@\s]+@")


def redact(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``."""
    return _URL_PASSWORD.sub(r"\1***@", text)


def debug_enabled() -> bool:
    return os.environ.get("ATTAIN_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return (text.splitlines() or [""])[0] or type(exc).__name__


def _database_message(exc: BaseException, url: str | None) -> str:
    from sqlalchemy.engine import make_url

    where = ""
    if url:
        try:
            where = make_url(url).render_as_string(hide_password=True)
        except Exception:  # an unparseable URL: shown redacted as given
            where = redact(url)
    reason = _first_line(exc)
    low = reason.lower()
    if "malformed" in low or "not a database" in low or "file is encrypted" in low:
        return f"the database {where} is damaged or is not an Attain database ({reason})"
    if "unable to open database file" in low:
        return (f"cannot open the database {where}: {reason} (does its directory exist, and "
                "may you write there?)")
    return f"database error ({where}): {reason}" if where else f"database error: {reason}"


def describe(exc: BaseException, db_url: str | None = None) -> tuple[str, int]:
    """The one-line message and exit status for an exception that escaped a command."""
    from sqlalchemy import exc as sa_exc

    from .connectors import ConnectorError
    from .plugins import PluginError

    if isinstance(exc, (UserError, ConnectorError, PluginError)):
        return redact(str(exc)), 2
    if isinstance(exc, (sa_exc.NoSuchModuleError, sa_exc.ArgumentError)):
        shown = redact(db_url) if db_url else "the database URL"
        return f"cannot use {shown}: {_first_line(exc)}", 2
    if isinstance(exc, sa_exc.SQLAlchemyError) and not isinstance(exc, sa_exc.StatementError) \
            or isinstance(exc, sa_exc.DBAPIError):
        return redact(_database_message(exc, db_url)), 1
    if isinstance(exc, IsADirectoryError):
        return f"{exc.filename} is a directory, not a file", 2
    if isinstance(exc, FileNotFoundError):
        return f"no such file: {exc.filename}", 2
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or _first_line(exc)}{where}", 1
    if type(exc).__module__.startswith("alembic"):
        return f"cannot upgrade the database schema: {redact(_first_line(exc))}", 1
    return (f"{type(exc).__name__}: {redact(_first_line(exc))} "
            "(an unexpected error; run with --debug for the traceback)"), 1


class ErrorHandlingGroup(LazyGroup):
    """The root command group: exceptions from any sub-command become one line (see module);
    plugins' lazy commands are imported when they run (:mod:`attain.core.lazy_cli`)."""

    #: set by the root callback: the database URL the command used (for messages)
    db_url: str | None = None

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (TyperException, typer.Exit, typer.Abort):  # usage errors, exits: click's own way
            raise
        except Exception as exc:
            if debug_enabled():
                raise
            message, code = describe(exc, ErrorHandlingGroup.db_url)
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(code) from None


__all__ = ["ErrorHandlingGroup", "UserError", "debug_enabled", "describe", "redact"]
