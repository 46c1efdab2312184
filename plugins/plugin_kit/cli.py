"""``attain new-plugin NAME [--kind connector|metric|rule] [--output DIR]``."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Annotated

import typer
from attain.core import get_plugins
from attain.core.cli_kit import user_errors

from .scaffold import KINDS, names, render


def _attain_version() -> str:
    try:
        return metadata.version("attain")
    except metadata.PackageNotFoundError:  # pragma: no cover (running from a bare checkout)
        return "0.1.0"


def new_plugin(
    name: Annotated[str, typer.Argument(help="The plugin's name, e.g. acme-crm (lowercase, "
                                        "digits, hyphens).")],
    kind: Annotated[str, typer.Option("--kind", "-k", help=f"What it adds: {', '.join(KINDS)}.")]
    = "connector",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Folder to create (default: "
                                                "./attain-NAME); must not exist or be empty.")] = None,
) -> None:
    """Create a ready-to-publish plugin package: pyproject.toml with the `attain` entry point,
    the plugin, its tests (attain.testing; a connector's run the contract suite), README, CI."""
    with user_errors(soft_wrap=True):
        n = names(name, get_plugins().names())
        out = output if output is not None else Path(f"attain-{n.name}")
        files = render(n, kind, out, _attain_version())
    typer.echo(f"created {n.distribution} ({kind}) in {out}: {len(files)} files")
    typer.echo(f"next: cd {out} && pip install -e '.[test]' && pytest && attain plugins list")


def register(cli: typer.Typer) -> None:
    if not any(c.name == "new-plugin" for c in cli.registered_commands):
        cli.command("new-plugin")(new_plugin)
