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
    from attain.core.cli_kit import lazy_commands

    lazy_commands(cli, "attain.plugins.plugin_kit.cli:register",
                  {"new-plugin": "Create a ready-to-publish plugin package: pyproject.toml with the "
                                 "`attain` entry point, the plugin, its tests (attain.testing; a "
                                 "connector's run the contract suite), README, CI."})
