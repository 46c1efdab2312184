"""The ``plugin_kit`` plugin: ``attain new-plugin NAME`` creates a partner's plugin package
(docs/connectors.md, docs/plugins.md).

Modules: ``scaffold`` (the names a package gets, rendering the Jinja2 templates shipped in
``templates/``), ``cli`` (the command).
"""

from __future__ import annotations

from typing import Any

from attain.core import hookimpl


@hookimpl
def attain_register_commands(cli: Any) -> None:
    from .cli import register

    register(cli)
