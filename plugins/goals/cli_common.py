"""What the goals plugin's commands share: their error handling and how they print figures."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import typer
from attain.core import output
from attain.core.cli_kit import err, user_errors

from .model import GoalError
from .service import GoalsRejected, fmt_money


def render(exc: BaseException) -> bool:
    """A rejected goal file: one line per problem (the kit prints everything else)."""
    if isinstance(exc, GoalsRejected):
        err.print(f"[red]error:[/red] {len(exc.errors)} goal(s) rejected, nothing was saved:")
        for e in exc.errors:
            print_goal_error(e)
        return True
    if isinstance(exc, GoalError):
        print_goal_error(exc)
        return True
    return False


def errors() -> user_errors:
    """User mistakes become one clear message and exit code 2 (never a traceback)."""
    return user_errors(GoalsRejected, GoalError, KeyError, ValueError, render=render)


def print_goal_error(e: GoalError) -> None:
    who = f"goal {e.goal_id!r}" if e.goal_id else "goal"
    err.print(f"[red]error:[/red] {who} rejected:", highlight=False)
    for p in e.problems:
        err.print(f"  - {p}", markup=False, highlight=False)


def num(v: Any, money: bool = True) -> str:
    if v is None:
        return "–"
    return fmt_money(v) if money else output.plain(v)


def pct(v: Any) -> str:
    return "–" if v is None else f"{Decimal(v) * 100:.1f}%"


def add_once(cli: typer.Typer, app: typer.Typer) -> None:
    """Add the group ``app`` to the root app unless a group of its name is there already."""
    names = {g.name or (g.typer_instance.info.name if g.typer_instance else None)
             for g in cli.registered_groups}
    if app.info.name not in names:
        cli.add_typer(app, name=app.info.name)
