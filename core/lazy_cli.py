"""Commands that are imported only when they run.

``attain --help`` lists every plugin's commands, but importing their modules (and what those
import: YAML, Salesforce and Kafka clients, report renderers …) would cost a second before any
command starts. :func:`lazy_commands` adds a *placeholder* per command name with its one-line
help; :class:`LazyGroup` (the root group) swaps the placeholder for the real command when that
command is invoked, by calling the plugin's own registration function on a scratch Typer app.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup


class LazyCommand(TyperCommand):
    """A placeholder: its name and help are known, its command is loaded on first use."""

    #: "module:function" each; the functions register on a Typer app, in this order (a plugin
    #: may add a command to another plugin's group: it names the same command after it)
    targets: ClassVar[tuple[str, ...]] = ()
    _loaded: ClassVar[dict[tuple[tuple[str, ...], str], Any]] = {}

    def load(self) -> Any:
        """The real command (a click command or group), loaded once per process."""
        name = self.name or ""
        key = (self.targets, name)
        cmd = LazyCommand._loaded.get(key)
        if cmd is None:
            scratch = typer.Typer()
            for target in self.targets:
                module, _, attr = target.partition(":")
                register: Callable[[typer.Typer], None] = getattr(importlib.import_module(module), attr)
                register(scratch)
            group = typer.main.get_group(scratch)
            found = group.commands.get(name)
            if found is None:
                raise RuntimeError(f"{', '.join(self.targets)} did not register the command {name!r}")
            cmd = LazyCommand._loaded[key] = found
        return cmd


class LazyGroup(TyperGroup):
    """A group whose :class:`LazyCommand` placeholders become their real command when invoked."""

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        if isinstance(cmd, LazyCommand):
            cmd = cmd.load()
        return name, cmd, rest


def _placeholder() -> None:  # never runs: LazyGroup invokes the loaded command instead
    raise RuntimeError("a lazy command was invoked without being loaded")


def lazy_commands(cli: typer.Typer, register: str, commands: Mapping[str, str]) -> None:
    """Add the commands that ``register`` adds, without importing it until one of them runs.

    :param cli: the root application (as ``attain_register_commands`` receives it).
    :param register: ``"package.module:function"``; the function takes a :class:`typer.Typer`
        and adds the commands to it (``cli.add_typer(...)``, ``cli.command()(fn)``), exactly as
        an eager ``attain_register_commands`` would.
    :param commands: every command name it adds → its one-line help (shown by ``attain --help``).
        A name another plugin already added lazily (a group both add to, like ``plan``) keeps
        the first help; loading it runs both registrations, the earlier first.
    """
    for name, help_text in commands.items():
        earlier = next((c for c in cli.registered_commands if c.name == name
                        and isinstance(c.cls, type) and issubclass(c.cls, LazyCommand)), None)
        if earlier is not None:
            old: Any = earlier.cls
            earlier.cls = type(f"Lazy_{name}", (LazyCommand,), {"targets": (*old.targets, register)})
            continue
        cls: Any = type(f"Lazy_{name}", (LazyCommand,), {"targets": (register,)})
        cli.command(name, help=help_text, cls=cls, add_help_option=False)(_placeholder)


__all__ = ["LazyCommand", "LazyGroup", "lazy_commands"]
