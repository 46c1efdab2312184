"""Adds the plugin's commands to the root app: ``forecast``, ``whatif`` and ``plan report``
(into the goals plugin's ``plan`` group when it is there, else a ``plan`` group of its own; this
plugin's hook runs last, so the goals plugin has added its group by then)."""

from __future__ import annotations

import typer

from .cli import forecast_app
from .cli_plan import plan_report, whatif


def _group(cli: typer.Typer, name: str) -> typer.Typer | None:
    for g in cli.registered_groups:
        if g.name == name and g.typer_instance is not None:
            return g.typer_instance
    return None


def register(cli: typer.Typer) -> None:
    if _group(cli, "forecast") is None:
        cli.add_typer(forecast_app, name="forecast")
    if not any(c.name == "whatif" for c in cli.registered_commands):
        cli.command("whatif")(whatif)
    plan = _group(cli, "plan")
    if plan is None:
        plan = typer.Typer(name="plan", no_args_is_help=True, help="Planning: the plan document.")
        cli.add_typer(plan, name="plan")
    if not any(c.name == "report" for c in plan.registered_commands):
        plan.command("report")(plan_report)
