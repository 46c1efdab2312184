"""The ``crm_salesforce`` plugin: ``attain sync salesforce`` (docs/salesforce.md).

Modules, one job each: ``config`` (settings and secrets), ``auth`` (OAuth token), ``client``
(REST calls, retries, quota), ``soql`` (query text), ``mapping`` (the per-tenant YAML mapping),
``records`` (records → events and dimensions), ``state`` (high-water marks, facts sent),
``sinks`` (engine, Kafka, dry run), ``sync`` (one run), ``cli`` (the command).
"""

from __future__ import annotations

from typing import Any

from attain.core import hookimpl

#: the command ``cli.register`` adds, with its help (imported only when it runs)
COMMANDS = {"sync": "Sync data from external systems (incremental)."}


@hookimpl
def attain_register_commands(cli: Any) -> None:
    from attain.core.cli_kit import lazy_commands

    lazy_commands(cli, "attain.plugins.crm_salesforce.cli:register", COMMANDS)
