"""``attain maturity …`` (added through ``attain_register_commands``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from attain.core.cli_kit import TenantOpt, console, engine_from, user_errors
from attain.core.store import DEFAULT_TENANT
from rich.table import Table

from . import render
from .model import MaturityError
from .questionnaire import ask, questions, read_answers
from .render import Format
from .service import Maturity

maturity_app = typer.Typer(name="maturity", no_args_is_help=True,
                           help="The five-level sales & marketing maturity assessment.")

FmtOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
ModelOpt = Annotated[str | None, typer.Option(
    "--model", help="The maturity model (default: the one a partner registered, else standard).")]


def _errors() -> user_errors:
    return user_errors(MaturityError, soft_wrap=True)


def _as_of(value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint="--as-of") from None


@maturity_app.command("questionnaire")
@_errors()
def questionnaire_cmd(
    tenant: TenantOpt = DEFAULT_TENANT,
    answers: Annotated[Path | None, typer.Option(
        "--answers", help="Read the answers from this YAML file (id: yes|no) instead of asking.")] = None,
    model: ModelOpt = None,
) -> None:
    """Answer the questions of the assessment (asked in the terminal) and save the answers."""
    svc = Maturity(engine_from(), tenant, model)
    criteria = svc.criteria()
    got = read_answers(answers, criteria) if answers is not None else ask(criteria, svc.answers(), console)
    saved = svc.save_answers(got)
    yes = sum(1 for a in got if a.answer)
    console.print(f"saved {saved} answer(s) for tenant {tenant} ({yes} yes, {saved - yes} no; "
                  f"{len(questions(criteria))} questions in the model)", highlight=False)


@maturity_app.command("questions")
@_errors()
def questions_cmd(tenant: TenantOpt = DEFAULT_TENANT, model: ModelOpt = None) -> None:
    """List the questionnaire's questions and the tenant's answers."""
    svc = Maturity(engine_from(), tenant, model)
    have = svc.answers()
    t = Table(title=f"Maturity questionnaire of tenant {tenant}")
    for c in ("level", "id", "question", "answer", "note"):
        t.add_column(c, overflow="fold")
    for q in questions(svc.criteria()):
        a = have.get(q.name)
        t.add_row(str(q.level), q.name, q.question or "", "–" if a is None else ("yes" if a.answer else "no"),
                  (a.note or "") if a else "")
    console.print(t)


@maturity_app.command("criteria")
@_errors()
def criteria_cmd(tenant: TenantOpt = DEFAULT_TENANT, fmt: FmtOpt = Format.table,
                 model: ModelOpt = None) -> None:
    """List the model's criteria: level, weight, required, evidence and the plugin of each."""
    svc = Maturity(engine_from(), tenant, model)
    rows = [{"id": c.name, "level": c.level, "weight": c.weight, "required": c.required,
             "evidence": c.evidence, "plugin": c.plugin, "checked_by": c.checked_by,
             "description": c.description} for c in svc.criteria()]
    render.emit_rows(rows, fmt, f"Maturity criteria ({svc.model.name} model)", console,
                     ["id", "level", "weight", "required", "evidence", "plugin"])


@maturity_app.command("assess")
@_errors()
def assess_cmd(
    tenant: TenantOpt = DEFAULT_TENANT,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Assess as of this day (YYYY-MM-DD, included); default: the day of the "
                        "tenant's newest event.")] = None,
    fmt: FmtOpt = Format.table,
    model: ModelOpt = None,
    save: Annotated[bool, typer.Option("--save/--no-save", help="Store the assessment.")] = True,
) -> None:
    """Assess the tenant: its level, every criterion with its numbers, recommendations, and what
    changed since the previous assessment."""
    result = Maturity(engine_from(), tenant, model).assess(_as_of(as_of), save=save)
    render.emit(result, fmt, console)


@maturity_app.command("history")
@_errors()
def history_cmd(
    tenant: TenantOpt = DEFAULT_TENANT,
    fmt: FmtOpt = Format.table,
    model: ModelOpt = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the newest N.")] = None,
) -> None:
    """How the level and each criterion moved over the stored assessments."""
    render.emit_history(Maturity(engine_from(), tenant, model).history(limit), fmt, console)


def register(cli: typer.Typer) -> None:
    cli.add_typer(maturity_app, name="maturity")
