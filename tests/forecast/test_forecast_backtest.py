"""`attain forecast backtest` and the stored runs / accuracy KPI (SQLite and PostgreSQL)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import create_engine, inspect

from forecast.helpers import CsvDeal, ForecastCli, monthly_won

D = Decimal
TEST_MONTHS = ["2017-07", "2017-08", "2017-09", "2017-10", "2017-11", "2017-12"]


def mape(actual: list[Decimal], forecast: list[Decimal]) -> Decimal:
    return (sum((abs(a - f) / a for a, f in zip(actual, forecast, strict=True)), D(0))
            / len(actual) * 100).quantize(D("0.01"))


def test_backtest_against_baselines(ro_cli: ForecastCli, csv_deals: list[CsvDeal]) -> None:
    r = ro_cli.json("forecast", "backtest", "--cutoff", "2017-06-30", "--no-save",
                    "--format", "json")
    assert r["cutoff"] == "2017-06-30"
    assert r["train"] == ["2017-03", "2017-06"] and r["test"] == ["2017-07", "2017-12"]
    months = monthly_won(csv_deals)
    train = [months[m] for m in ("2017-03", "2017-04", "2017-05", "2017-06")]
    actual = [months[m] for m in TEST_MONTHS]
    assert [p["actual"] for p in r["periods"]] == actual
    baselines = {b["name"]: b for b in r["baselines"]}
    assert set(baselines) == {"last_period", "same_period_last_year", "moving_average"}
    assert baselines["last_period"]["mape"] == mape(actual, [train[-1]] * 6)
    moving = (sum(train[-3:], D(0)) / 3).quantize(D("0.01"))
    assert baselines["moving_average"]["mape"] == mape(actual, [moving] * 6)
    # the bundled data starts in 2017: there is no same month a year earlier
    assert baselines["same_period_last_year"]["mape"] is None
    assert "a year before" in baselines["same_period_last_year"]["note"]
    # four training months allow only simple exponential smoothing (a level, no trend)
    [model] = r["models"]
    assert model["name"] == "ets-simple"
    fc = [p["ets-simple"] for p in r["periods"]]
    assert len(set(fc)) == 1 and min(train) <= fc[0] <= max(train)  # a flat weighted level
    assert model["mape"] == mape(actual, fc)
    inside = [p["ets-simple_lower"] <= p["actual"] <= p["ets-simple_upper"] for p in r["periods"]]
    assert model["coverage"] == (D(sum(inside)) / 6).quantize(D("0.0001"))
    # the model loses to the moving average on the bundled data, and says so
    assert model["mape"] > baselines["moving_average"]["mape"]
    assert any("loses to the naive baseline" in v and "moving_average" in v for v in r["verdicts"])


def test_backtest_is_deterministic_and_checks_the_cutoff(ro_cli: ForecastCli,
                                                          wide_errors: None) -> None:
    args = ("forecast", "backtest", "--cutoff", "2017-06-30", "--no-save", "--format", "json")
    assert ro_cli(*args).stdout == ro_cli(*args).stdout
    for cutoff, message in [("2017-06-15", "not the last day of a month"),
                            ("2017-12-31", "nothing to test after the cutoff"),
                            ("2016-12-31", "no history before the cutoff"),
                            ("June", "is not a day")]:
        res = ro_cli("forecast", "backtest", "--cutoff", cutoff, "--no-save", ok=False)
        assert res.exit_code == 2
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], lines


def test_runs_are_stored_and_accuracy_is_a_kpi(fcli: ForecastCli, bundled_url: str) -> None:
    bt = fcli.json("forecast", "backtest", "--cutoff", "2017-06-30", "--format", "json")
    fc = fcli.json("forecast", "--format", "json")
    assert isinstance(fc["run"], int) and len(bt["runs"]) == 1
    engine = create_engine(bundled_url)
    try:
        insp = inspect(engine)
        assert {"forecast_runs", "forecast_figures", "alembic_version_forecast"} <= set(
            insp.get_table_names())
    finally:
        engine.dispose()
    acc = fcli.json("forecast", "accuracy", "--format", "json")
    # only the backtest's periods are past: the 2018 forecast has nothing to compare yet
    assert [row["period"] for row in acc["rows"]] == TEST_MONTHS
    assert {row["run"] for row in acc["rows"]} == set(bt["runs"])
    for row, p in zip(acc["rows"], bt["periods"], strict=True):
        assert row["actual"] == p["actual"] and row["forecast"] == p["ets-simple"]
        assert row["inside"] is (p["ets-simple_lower"] <= p["actual"] <= p["ets-simple_upper"])
    model = bt["models"][0]
    assert acc["mape"] == model["mape"] and acc["coverage"] == model["coverage"]
    assert acc["runs"] == [{"run": bt["runs"][0], "kind": "backtest", "model": "ets-simple",
                            "periods": 6, "mape": model["mape"], "coverage": model["coverage"]}]
    # a second backtest is a second run; the KPI covers both
    fcli("forecast", "backtest", "--cutoff", "2017-09-30")
    again = fcli.json("forecast", "accuracy", "--format", "json")
    assert len(again["runs"]) == 2 and again["periods"] == 6 + 3
    # The maturity assessment's forecast-accuracy criterion reads these stored runs (through
    # the forecast plugin's public API): accuracy = 1 − MAPE, over the 9 ended periods.
    m = fcli.json("maturity", "assess", "--format", "json")
    crit = {c["id"]: c for c in m["criteria"]}["forecast_accuracy"]
    assert crit["met"] is True and crit["numbers"]["forecasts"] == 9
    assert crit["numbers"]["mape"] == again["mape"]
    assert crit["value"] == 1 - again["mape"] / 100  # a MAPE of 2 decimals: 4 exact decimals
