"""`attain forecast`: stage probabilities, the weighted pipeline and expected close days, checked
against the bundled CSV read with plain Python; the time series is deterministic."""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from decimal import Decimal

from forecast.helpers import CsvDeal, ForecastCli

D = Decimal
AS_OF = dt.date(2017, 12, 31)  # the data's latest close date


def closed(deals: list[CsvDeal]) -> list[CsvDeal]:
    return [d for d in deals if d.stage in ("Won", "Lost")]


def test_stage_probabilities_pooled(ro_cli: ForecastCli, csv_deals: list[CsvDeal]) -> None:
    r = ro_cli.json("forecast", "--no-save", "--format", "json")
    probs = {p["stage"]: p for p in r["probabilities"]}
    done = closed(csv_deals)
    won = sum(1 for d in done if d.stage == "Won")
    # every closed deal was created in Prospecting (the connector's first version) ...
    assert probs["Prospecting"]["deals"] == len(done) == 6711
    assert probs["Prospecting"]["won"] == won == 4238
    assert probs["Prospecting"]["probability"] == (D(won) / D(len(done))).quantize(D("0.0001"))
    # ... and those with an engage date went through Engaging
    engaged = [d for d in done if d.engaged]
    assert probs["Engaging"]["deals"] == len(engaged)
    assert probs["Engaging"]["won"] == sum(1 for d in engaged if d.stage == "Won")
    days = [(d.closed - d.engaged).days for d in engaged if d.closed and d.engaged]
    assert probs["Engaging"]["median_days_to_close"] == statistics.median(days)


def test_stage_probabilities_per_team_with_sample_guard(ro_cli: ForecastCli,
                                                        csv_deals: list[CsvDeal]) -> None:
    r = ro_cli.json("forecast", "--no-save", "--by", "team", "--min-sample", "800",
                    "--format", "json")
    by_team: dict[str, list[CsvDeal]] = defaultdict(list)
    for d in closed(csv_deals):
        if d.engaged:
            by_team[d.manager or "(no team)"].append(d)
    rows = {(p["stage"], p["group"]): p for p in r["probabilities"]}
    for team, deals in by_team.items():
        row = rows[("Engaging", team)]
        assert row["deals"] == len(deals)
        won = sum(1 for d in deals if d.stage == "Won")
        assert row["probability"] == (D(won) / D(len(deals))).quantize(D("0.0001"))
        assert row["used"] is (len(deals) >= 800)
    # an open deal of a team below the sample uses the pooled probability, and says so
    pooled = rows[("Engaging", "company")]["probability"]
    small = {t for t, deals in by_team.items() if len(deals) < 800}
    big = {t for t, deals in by_team.items() if len(deals) >= 800}
    assert small and big  # the threshold splits the bundled teams
    for deal in r["deals"]:
        if deal["stage"] != "Engaging":
            continue
        if deal["group"] in small:
            assert deal["basis"] == "pooled" and deal["probability"] == pooled
        else:
            assert deal["basis"] == "team"
            assert deal["probability"] == rows[("Engaging", deal["group"])]["probability"]
            assert deal["sample"] == rows[("Engaging", deal["group"])]["deals"]


def test_weighted_pipeline(ro_cli: ForecastCli, csv_deals: list[CsvDeal]) -> None:
    r = ro_cli.json("forecast", "--no-save", "--format", "json")
    done = closed(csv_deals)
    won = [d for d in done if d.stage == "Won"]
    by_product: dict[str, list[Decimal]] = defaultdict(list)
    for d in won:
        by_product[d.product].append(d.amount)
    avg = {p: sum(v, D(0)) / len(v) for p, v in by_product.items()}
    p_open = {"Prospecting": D(4238) / D(6711),
              "Engaging": D(sum(1 for d in won if d.engaged)) / D(sum(1 for d in done if d.engaged))}
    open_deals = [d for d in csv_deals if d.stage in p_open]
    assert r["open_deals"] == len(open_deals) == 2089
    # the bundled open deals have no amount: each is valued at its product's average won amount
    assert r["estimated_amounts"] == 2089
    expected_pipeline = sum((avg[d.product].quantize(D("0.01")) for d in open_deals), D(0))
    expected_weighted = sum(((avg[d.product] * p_open[d.stage]).quantize(D("0.01"))
                             for d in open_deals), D(0))
    assert r["pipeline"] == expected_pipeline
    assert r["weighted_pipeline"] == expected_weighted
    assert sum((x["weighted"] for x in r["deals"]), D(0)) == expected_weighted


def test_expected_close_from_time_to_close(ro_cli: ForecastCli, csv_deals: list[CsvDeal]) -> None:
    r = ro_cli.json("forecast", "--no-save", "--format", "json")
    days = sorted((d.closed - d.engaged).days for d in closed(csv_deals) if d.closed and d.engaged)
    deals = {x["deal"]: x for x in r["deals"]}
    checked = 0
    for d in csv_deals:
        if d.stage != "Engaging" or d.engaged is None:
            continue
        age = (AS_OF - d.engaged).days
        later = [t for t in days if t >= age]
        if later:
            want = max(d.engaged + dt.timedelta(days=statistics.median_low(later)),
                       AS_OF + dt.timedelta(days=1))
        else:  # older than every deal that closed: overdue, expected right after the data
            want = AS_OF + dt.timedelta(days=1)
        got = deals[d.id]
        assert dt.date.fromisoformat(got["expected_close"]) == want, d.id
        assert got["overdue"] is (not later)
        checked += 1
    assert checked == 1589
    # Prospecting deals are seen on the data's last day (age 0): the median time to close
    prospect = next(x for x in r["deals"] if x["stage"] == "Prospecting")
    assert dt.date.fromisoformat(prospect["expected_close"]) == AS_OF + dt.timedelta(
        days=statistics.median_low(days))


def test_periods_side_by_side_and_deterministic(ro_cli: ForecastCli) -> None:
    a = ro_cli("forecast", "--no-save", "--format", "json").stdout
    b = ro_cli("forecast", "--no-save", "--format", "json").stdout
    assert a == b  # a fixed seed: the same data gives the same figures
    r = ro_cli.json("forecast", "--no-save", "--format", "json")
    periods = r["periods"]
    assert [p["period"] for p in periods] == ["2018-Q1", "2018-Q2", "2018-Q3", "2018-Q4"]
    for p in periods:
        assert p["lower"] <= p["forecast"] <= p["upper"]
        assert p["commit"] <= p["best_case"]
        assert p["weighted"] <= p["best_case"]
    # every open deal is expected in some period; those in 2018 are in the rows
    in_2018 = [d for d in r["deals"] if d["expected_close"].startswith("2018")]
    assert sum((p["best_case"] for p in periods), D(0)) == sum((d["amount"] for d in in_2018), D(0))
    assert sum((p["weighted"] for p in periods), D(0)) == sum((d["weighted"] for d in in_2018), D(0))
    q1 = ro_cli.json("forecast", "--no-save", "--period", "2018-Q1", "--format", "json")
    assert [p["period"] for p in q1["periods"]] == ["2018-Q1"]
    assert q1["periods"][0]["forecast"] == periods[0]["forecast"]


def test_forecast_by_team_rows(ro_cli: ForecastCli, csv_deals: list[CsvDeal]) -> None:
    r = ro_cli.json("forecast", "--no-save", "--by", "team", "--period", "2018-Q1",
                    "--format", "json")
    groups = {p["group"] for p in r["periods"]}
    assert groups == {"company"} | {d.manager for d in csv_deals if d.manager}
    assert all(p["period"] == "2018-Q1" for p in r["periods"])
    company = next(p for p in r["periods"] if p["group"] == "company")
    teams = [p for p in r["periods"] if p["group"] != "company"]
    assert company["best_case"] == sum((p["best_case"] for p in teams), D(0))


def test_forecast_user_errors(ro_cli: ForecastCli, wide_errors: None) -> None:
    for args, message in [
        (("--by", "planet"), "unknown grouping 'planet'"),
        (("--period", "2017-Q3"), "is not after the data"),
        (("--period", "soon"), "--period"),
        (("--min-sample", "0"), "--min-sample"),
    ]:
        res = ro_cli("forecast", "--no-save", *args, ok=False)
        assert res.exit_code == 2, (args, res.stdout, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines


def test_forecast_by_rep_is_never_negative(ro_cli: ForecastCli) -> None:
    """Sparse per-rep series: the simulated paths are cut at 0, so no bound is below 0."""
    r = ro_cli.json("forecast", "--no-save", "--by", "rep", "--period", "2018-Q1",
                    "--format", "json")
    assert len({p["group"] for p in r["periods"]}) > 30
    for p in r["periods"]:
        assert D(0) <= p["lower"] <= p["forecast"] <= p["upper"], p
