"""Helpers of the goals tests (imported by conftest.py and the tests)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from attain.core import cli as cli_module
from typer.testing import CliRunner, Result


@dataclass(frozen=True)
class CsvDeal:
    id: str
    rep: str
    stage: str
    engaged: dt.date | None
    closed: dt.date | None
    value: Decimal | None


@dataclass(frozen=True)
class CsvData:
    deals: list[CsvDeal]
    teams: dict[str, tuple[str, str]]  # rep -> (manager, region)

    def won(self, start: dt.date, end: dt.date, reps: set[str] | None = None) -> Decimal:
        return sum((d.value or Decimal(0) for d in self.deals
                    if d.stage == "Won" and d.closed and start <= d.closed <= end
                    and (reps is None or d.rep in reps)), Decimal(0))

    def reps_of(self, kind: str, name: str) -> set[str]:
        idx = 0 if kind == "manager" else 1
        return {r for r, t in self.teams.items() if t[idx] == name}


def parse_date(v: str) -> dt.date | None:
    return dt.date.fromisoformat(v) if v.strip() else None



class GoalsCli:
    """``attain --db URL …`` in-process, with the plugins' commands registered."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.runner = CliRunner()
        self.app = cli_module.build_app()

    def __call__(self, *args: str, ok: bool = True, env: dict[str, str] | None = None) -> Result:
        argv = ["--db", self.url, *args]
        try:
            result = self.runner.invoke(self.app, argv, env=env)
        finally:
            st = cli_module.State._store
            if st is not None:
                st.dispose()
            cli_module.State._store = None
            cli_module.State.db_url = None
        if ok:
            assert result.exit_code == 0, (
                f"`attain {' '.join(argv)}` exited {result.exit_code}\nstdout:\n{result.stdout}"
                f"\nstderr:\n{result.stderr}\nexception: {result.exception!r}")
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args).stdout, parse_float=Decimal)
