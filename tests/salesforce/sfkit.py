"""Helpers of the Salesforce tests: the mock org's environment, the CLI with every command, and
KPIs of every grouping (to compare a sync with ``attain import crm-csv`` of the same data)."""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from attain.core import cli as cli_module
from attain.core.kpi import GROUPINGS
from testkit import Cli, load_json

from .mock_server import MockSalesforce

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "core" / "data" / "crm-sales-opportunities"
SECRET_VARS = ("ATTAIN_SALESFORCE_CLIENT_SECRET", "ATTAIN_SALESFORCE_PASSWORD",
               "ATTAIN_SALESFORCE_SECURITY_TOKEN")


@functools.cache
def full_app() -> Any:
    """The ``attain`` app with every plugin's commands (built once: registering adds commands)."""
    return cli_module.build_app()


class SfCli(Cli):
    def __init__(self, db_url: str) -> None:
        super().__init__(db_url, full_app())

    def __call__(self, *args: str, **kw: Any) -> Any:
        # The CLI's log handler writes to the stderr of the run that installed it; each
        # in-process run has its own (closed afterwards): let this run install a fresh one.
        root = logging.getLogger("attain")
        for h in [h for h in root.handlers if getattr(h, "_attain_cli", False)]:
            root.removeHandler(h)
        debug = os.environ.get("ATTAIN_DEBUG")  # --debug sets it for the process
        try:
            return super().__call__(*args, **kw)
        finally:
            if debug is None:
                os.environ.pop("ATTAIN_DEBUG", None)
            else:
                os.environ["ATTAIN_DEBUG"] = debug

    def all_kpis(self, tenant: str = "default") -> dict[str, list[dict[str, Any]]]:
        return {g: self.kpis(g, tenant) for g in GROUPINGS}


def sf_env(server: MockSalesforce, cert: Path, **overrides: str) -> dict[str, str]:
    """The variables a user sets to sync the mock org (client-credentials flow)."""
    env = {
        "ATTAIN_SALESFORCE_LOGIN_URL": server.base_url,
        "ATTAIN_SALESFORCE_CLIENT_ID": server.client_id,
        "ATTAIN_SALESFORCE_CLIENT_SECRET": server.client_secret,
        "ATTAIN_SALESFORCE_BACKOFF_SECONDS": "0.01",
        "ATTAIN_SALESFORCE_LOOKBACK_SECONDS": "300",
        "REQUESTS_CA_BUNDLE": str(cert),
    }
    env.update(overrides)
    return env


def sync(cli: SfCli, env: dict[str, str], *args: str, ok: bool = True) -> Any:
    return cli("sync", "salesforce", "-q", *args, env=env, ok=ok)


def sync_json(cli: SfCli, env: dict[str, str], *args: str) -> Any:
    return load_json(sync(cli, env, "--format", "json", *args).stdout)


def crm_csv_kpis(folder: Path, db: Path) -> dict[str, list[dict[str, Any]]]:
    """KPIs of ``folder`` imported by crm-csv into a new SQLite database (the reference)."""
    cli = SfCli(f"sqlite:///{db}")
    cli("import", "-q", "crm-csv", str(folder))
    return cli.all_kpis()


def attain_subprocess(args: list[str], env: dict[str, str], **kw: Any) -> subprocess.Popen[str]:
    """``attain ARGS`` as its own process (to kill it)."""
    full = {**os.environ, **env, "PYTHONUNBUFFERED": "1"}
    full.pop("ATTAIN_DATABASE_URL", None)
    return subprocess.Popen([sys.executable, "-m", "attain.core.cli", *args], env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
