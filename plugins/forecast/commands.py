"""Adds the plugin's commands to the root app: ``forecast``, ``whatif`` and ``plan report``
(into the goals plugin's ``plan`` group when it is there, else a ``plan`` group of its own)."""

from __future__ import annotations

import typer

from .cli import forecast_app
from .cli_plan import whatif


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
