"""Every forecast command in every format: tables name their figures, CSV has its header."""

from __future__ import annotations

import csv
import io

import pytest

from forecast.helpers import ForecastCli


@pytest.mark.parametrize(("args", "table_has", "csv_header"), [
    (("forecast", "--no-save", "--deals"), ["Stage win probabilities", "Prospecting", "Open deals"],
     ["group", "period", "model", "forecast", "lower", "upper", "weighted", "commit", "best_case"]),
    (("forecast", "backtest", "--cutoff", "2017-06-30", "--no-save"),
     ["moving_average", "loses to the naive baseline"], ["kind", "name", "mape", "coverage"]),
    (("forecast", "accuracy"), ["MAPE"],
     ["run", "kind", "model", "group", "period", "forecast", "lower", "upper", "actual", "ape",
      "inside"]),
    (("forecast", "insight"), ["Performers against peers", "Funnel conversion", "ICP"],
     ["segment", "closed", "won", "revenue", "win_rate", "avg_deal_size", "cycle_days",
      "velocity", "score"]),
    (("whatif", "--year", "2018", "--headcount", "+2"), ["What-if 2018", "expected_revenue"],
     ["rep", "manager", "new", "capacity", "productivity", "factor", "expected", "quota"]),
])
def test_table_and_csv(ro_cli: ForecastCli, args: tuple[str, ...], table_has: list[str],
                       csv_header: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from attain.core import cli_kit
    from rich.console import Console

    monkeypatch.setattr(cli_kit, "console", Console(width=320, color_system=None))
    text = ro_cli(*args).stdout
    for part in table_has:
        assert part in text, (part, text[:2000])
    rows = list(csv.reader(io.StringIO(ro_cli(*args, "--format", "csv").stdout)))
    assert rows[0] == csv_header
