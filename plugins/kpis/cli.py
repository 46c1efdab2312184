"""``attain economics --period P``: the figures that need state across events (added through
``attain_register_commands``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from attain.core import PeriodError, UserError, output, parse_period
from attain.core.cli_kit import FormatOpt, TenantOpt, emit, engine_from, user_errors
from attain.core.output import Format
from attain.core.store import DEFAULT_TENANT

from . import settings
from .economics import campaigns, economics
from .funnel import GROUPINGS, funnel


def register(cli: typer.Typer) -> None:
    @cli.command("economics")
    @user_errors(PeriodError)
    def economics_cmd(
        period: Annotated[str, typer.Option("--period", "-p", help="A month (2017-07), quarter "
                                            "(2017-Q3), year, or a range (2017-01-01..2017-03-31).")],
        by: Annotated[str | None, typer.Option(
            "--by", "-b", help="campaign: per campaign, the won revenue it sourced, its "
                               "marketing cost and ROI (revenue ÷ cost).")] = None,
        tenant: TenantOpt = DEFAULT_TENANT,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """Customers (new, churn, NRR, CAC, LTV), team (headcount, turnover, tenure) and lead →
        won figures of one period, or campaign ROI with --by campaign (docs/kpis.md)."""
        if by not in (None, "campaign"):
            raise typer.BadParameter(f"unknown grouping {by!r}; the one grouping is campaign",
                                     param_hint="--by")
        p = parse_period(period)
        engine = engine_from()
        if by == "campaign":
            per_campaign = campaigns(engine.deals(tenant), engine.facts(tenant), p, engine.rates(tenant))
            emit(per_campaign, ["campaign", "won_deals", "won_revenue", "marketing_cost", "roi"], fmt,
                 f"Campaign ROI {p.key} (tenant {tenant})", money=["won_revenue", "marketing_cost"])
            return
        figures = economics(engine.deals(tenant), engine.facts(tenant), p, engine.rates(tenant))
        if Format(str(fmt)) is Format.json:
            typer.echo(output.dumps(figures))
            return
        rows: list[dict[str, Any]] = [{"figure": k, "value": v} for k, v in figures.items()
                                      if k not in ("period", "disqualification_reasons")]
        rows += [{"figure": f"disqualified: {r['reason']}", "value": r["leads"]}
                 for r in figures["disqualification_reasons"]]
        emit(rows, ["figure", "value"], fmt, f"Economics {p.key} (tenant {tenant})")

    @cli.command("funnel")
    @user_errors(PeriodError, ValueError)
    def funnel_cmd(
        by: Annotated[str, typer.Option("--by", "-b", help="Grouping: " + ", ".join(GROUPINGS)
                                        + " (team = the rep's manager)")] = "all",
        period: Annotated[str | None, typer.Option(
            "--period", "-p", help="Only deals that entered the funnel in this period.")] = None,
        stages: Annotated[str | None, typer.Option(
            "--stages", help="The stage order of this read, comma-separated (default: the "
                             "tenant's saved order, else first seen).")] = None,
        save_stages: Annotated[str | None, typer.Option(
            "--save-stages", help="Save the tenant's stage order (comma-separated), used by "
                                  "default from now on, and show the funnel with it.")] = None,
        clear_stages: Annotated[bool, typer.Option(
            "--clear-stages", help="Forget the tenant's saved stage order.")] = False,
        tenant: TenantOpt = DEFAULT_TENANT,
        fmt: FormatOpt = Format.table,
    ) -> None:
        """The deal funnel from every deal's version history: deals that reached each stage,
        stage-to-stage conversion, mean and median days in stage, the bottleneck."""
        if by not in GROUPINGS:
            raise typer.BadParameter(f"unknown grouping {by!r}; choose one of {', '.join(GROUPINGS)}",
                                     param_hint="--by")
        if (stages is not None) + (save_stages is not None) + clear_stages > 1:
            raise UserError("give one of --stages, --save-stages and --clear-stages")
        p = parse_period(period) if period else None
        engine = engine_from()
        if save_stages is not None:
            settings.save_stages(engine.store, tenant, settings.parse_stages(save_stages))
        elif clear_stages:
            settings.save_stages(engine.store, tenant, None)
        order = ([s.strip() for s in stages.split(",") if s.strip()] if stages
                 else settings.saved_stages(engine.store, tenant))
        rows = funnel(engine.events(tenant, types=["deal"]), engine.dimensions(tenant), by, p, order)
        if Format(str(fmt)) is Format.json:
            typer.echo(output.dumps(rows))
            return
        flat = [{by: r["key"], "deals": r["deals"], **s,
                 "bottleneck": "◀" if s["stage"] == r["bottleneck"] else ""}
                for r in rows for s in r["stages"]]
        emit(flat, [by, "stage", "reached", "next_stage", "conversion", "mean_days", "median_days",
                    "bottleneck"], fmt, f"Deal funnel by {by}" + (f", {p.key}" if p else "")
             + f" (tenant {tenant})")
