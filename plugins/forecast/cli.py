"""``attain forecast``, ``forecast backtest``, ``forecast accuracy``, ``forecast insight``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

import typer
from attain.core import Period, PeriodError, UserError, cli_kit, output
from attain.core.cli_kit import FormatOpt, TenantOpt, emit, engine_from, table, user_errors
from attain.core.output import Format
from attain.core.store import DEFAULT_TENANT

from . import accuracy as acc
from . import backtest as bt
from . import history as hist
from . import insight, pipeline, service, storage

forecast_app = typer.Typer(name="forecast", invoke_without_command=True,
                           help="Forecast revenue: weighted pipeline, time series, backtest.")

MONEY = ("forecast", "lower", "upper", "weighted", "commit", "best_case", "actual", "amount")


def _errors() -> user_errors:
    return user_errors(PeriodError, ValueError)


def _period(text: str | None) -> Period | None:
    if text is None:
        return None
    try:
        return Period.parse(text)
    except PeriodError as exc:
        raise UserError(f"--period: {exc}") from None


def _day(text: str, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UserError(f"{what}: {text!r} is not a day (YYYY-MM-DD)") from None


def _print_forecast(r: dict[str, Any]) -> None:
    cli_kit.console.print(f"Data as of {r['as_of']}; open pipeline {output.money(r['pipeline'])} "
                  f"({r['open_deals']} deals, {r['estimated_amounts']} valued at their product's "
                  f"average won amount), weighted {output.money(r['weighted_pipeline'])}",
                  highlight=False)
    cli_kit.console.print(table(r["probabilities"], ["stage", "group", "deals", "won", "probability",
                                             "median_days_to_close", "used"],
                        f"Stage win probabilities (learned; per {r['grouping']} from "
                        f"{r.get('min_sample', pipeline.MIN_SAMPLE)} deals, else pooled)"))
    cli_kit.console.print(table(r["periods"], ["group", "period", "model", "forecast", "lower", "upper",
                                       "weighted", "commit", "best_case"],
                        f"Forecast of won revenue ({int(r['interval'] * 100)}% interval); "
                        f"commit = open deals with p ≥ {r['commit_probability']}", MONEY))


@forecast_app.callback()
def forecast(
    ctx: typer.Context,
    by: Annotated[str, typer.Option("--by", help="Group: company, team, region, product, rep.")
                  ] = "company",
    period: Annotated[str | None, typer.Option(
        help="Forecast up to this period: a month (2018-01), quarter (2018-Q1) or year (2018); "
             "default the year after the data.")] = None,
    min_sample: Annotated[int, typer.Option(
        help="Closed deals a group needs for its own stage probabilities (else pooled).")
    ] = pipeline.MIN_SAMPLE,
    commit_probability: Annotated[str, typer.Option(
        help="Open deals at least this likely count as commit.")] = str(service.COMMIT_PROBABILITY),
    save: Annotated[bool, typer.Option("--save/--no-save", help="Store the run (accuracy KPI).")
                    ] = True,
    show_deals: Annotated[bool, typer.Option("--deals", help="List the open deals (table).")
                          ] = False,
    tenant: TenantOpt = DEFAULT_TENANT,
    fmt: FormatOpt = Format.table,
) -> None:
    """Weighted pipeline (stage probabilities learned from history), the time-series forecast
    with prediction intervals, and commit / best case / weighted per period."""
    if ctx.invoked_subcommand is not None:
        return
    with _errors():
        try:
            commit = Decimal(commit_probability)
        except ArithmeticError:
            raise UserError(f"--commit-probability: {commit_probability!r} is not a number") from None
        r = service.forecast(engine_from(), tenant, hist.check_grouping(by), _period(period),
                             min_sample, commit, save)
        r["min_sample"] = min_sample
    if fmt is Format.json:
        typer.echo(output.dumps(r))
    elif fmt is Format.csv:
        typer.echo(output.to_csv(r["periods"], ["group", "period", "model", "forecast", "lower",
                                                "upper", "weighted", "commit", "best_case"]),
                   nl=False)
    else:
        _print_forecast(r)
        if show_deals:
            cli_kit.console.print(table(r["deals"], ["deal", "owner", "group", "stage", "amount",
                                             "estimated", "probability", "basis", "sample",
                                             "weighted", "expected_close"], "Open deals", MONEY))


@forecast_app.command("backtest")
def backtest(
    cutoff: Annotated[str, typer.Option(help="Train up to this day (a month's last day).")],
    save: Annotated[bool, typer.Option("--save/--no-save", help="Store the runs (accuracy KPI).")
                    ] = True,
    tenant: TenantOpt = DEFAULT_TENANT,
    fmt: FormatOpt = Format.table,
) -> None:
    """Train on the months up to the cutoff, forecast the rest, compare with naive baselines."""
    with _errors():
        engine = engine_from()
        h = hist.load(engine, tenant)
        r = bt.backtest_history(h, _day(cutoff, "--cutoff"))
        if save:
            r["runs"] = [storage.save_run(
                engine.store, tenant, kind="backtest", model=m["name"], grouping="company",
                data_as_of=h.as_of, cutoff=r["cutoff"],
                figures=[{"group": "company", "period": p["period"], "forecast": p[m["name"]],
                          "lower": p[f"{m['name']}_lower"], "upper": p[f"{m['name']}_upper"]}
                         for p in r["periods"]]) for m in r["models"]]
    r.pop("figures", None)
    if fmt is Format.json:
        typer.echo(output.dumps(r))
        return
    rows = ([{"kind": "model", **m} for m in r["models"]]
            + [{"kind": "baseline", **b} for b in r["baselines"]])
    if fmt is Format.csv:
        typer.echo(output.to_csv(rows, ["kind", "name", "mape", "coverage"]), nl=False)
        return
    cli_kit.console.print(table(rows, ["kind", "name", "mape", "coverage", "note"],
                        f"Backtest: trained {r['train'][0]}..{r['train'][1]}, tested "
                        f"{r['test'][0]}..{r['test'][1]} (MAPE %, {int(r['interval'] * 100)}% "
                        "interval coverage)"))
    for v in r["verdicts"]:
        cli_kit.console.print(v, highlight=False)


@forecast_app.command("accuracy")
def accuracy(tenant: TenantOpt = DEFAULT_TENANT, fmt: FormatOpt = Format.table) -> None:
    """Forecast accuracy of past periods: every stored figure against the actual."""
    with _errors():
        r = acc.accuracy(engine_from(), tenant)
    if fmt is Format.json:
        typer.echo(output.dumps(r))
        return
    cols = ["run", "kind", "model", "group", "period", "forecast", "lower", "upper", "actual",
            "ape", "inside"]
    if fmt is Format.csv:
        typer.echo(output.to_csv(r["rows"], cols), nl=False)
        return
    emit(r["rows"], cols, fmt, "Stored forecasts of past periods", MONEY)
    cli_kit.console.print(f"MAPE {r['mape']}% over {r['periods']} period(s), interval coverage "
                  f"{r['coverage']}", highlight=False)


@forecast_app.command("insight")
def insight_cmd(
    min_deals: Annotated[int, typer.Option(help="Closed deals a rep needs to be ranked.")
                         ] = insight.MIN_DEALS,
    tenant: TenantOpt = DEFAULT_TENANT,
    fmt: FormatOpt = Format.table,
) -> None:
    """Top and under-performers against peers (small-sample guard), each team's bottleneck
    stage against the company, and account segments (the ideal customer profile)."""
    with _errors():
        if min_deals < 1:
            raise UserError("--min-deals must be 1 or more")
        engine = engine_from()
        h = hist.load(engine, tenant)
        r = {"performers": insight.performers(h, min_deals,
                                              activities=insight.activity_counts(engine, tenant)),
             "bottlenecks": insight.bottlenecks(h),
             "segments": insight.segments(h)}
    if fmt is Format.json:
        typer.echo(output.dumps(r))
        return
    seg = r["segments"]
    if fmt is Format.csv:
        typer.echo(output.to_csv(seg["segments"], SEGMENT_COLUMNS), nl=False)
        return
    rows = [{"metric": m, "side": side, "rep": x["rep"], "value": x["value"], "deals": x["deals"]}
            for m, v in r["performers"]["metrics"].items() for side in ("top", "under")
            for x in v[side]]
    cli_kit.console.print(table(rows, ["metric", "side", "rep", "value", "deals"],
                        f"Performers against peers (at least {min_deals} closed deals; win rate: "
                        "95% Wilson interval clear of the company rate)"))
    b = r["bottlenecks"]
    steps = list(b["company"])
    cli_kit.console.print(table([{"team": "company", **b["company"]}] + b["teams"],
                        ["team", *steps, "bottleneck"], "Funnel conversion per team"))
    cli_kit.console.print(table(seg["segments"], SEGMENT_COLUMNS,
                        f"Account segments (ICP: {seg['icp']})", ("revenue", "avg_deal_size")))


SEGMENT_COLUMNS = ["segment", "closed", "won", "revenue", "win_rate", "avg_deal_size",
                   "cycle_days", "velocity", "score"]
