"""``attain plan quotas`` (added through ``attain_register_commands``): the quota plan of a year."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

import typer
from attain.core import output
from attain.core.cli_kit import FormatOpt, TenantOpt, console, engine_from
from attain.core.output import Format
from attain.core.store import DEFAULT_TENANT
from rich.table import Table

from .cli_common import add_once, errors, num, pct
from .model import parse_decimal
from .planning import plan_quotas
from .service import fmt_money

plan_app = typer.Typer(name="plan", no_args_is_help=True,
                       help="Planning: propose rep and team quotas for a year.")


def _growth(text: str) -> Decimal:
    try:
        return parse_decimal(text, "growth")
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--growth") from None


@plan_app.command("quotas")
def quotas(
    year: Annotated[int, typer.Option(help="The year to plan, e.g. 2018 (from the year before).")],
    growth: Annotated[str, typer.Option(help="Growth over last year: 10% or 0.10.")] = "0%",
    ramp_months: Annotated[int, typer.Option(help="Months a new rep takes to reach full "
                                             "capacity.")] = 3,
    metric: Annotated[str, typer.Option(help="Money KPI to plan.")] = "won_revenue",
    match_target: Annotated[bool, typer.Option(
        "--match-target", help="Spread exactly the target (gap 0) instead of capacity-weighted "
        "quotas.")] = False,
    tenant: TenantOpt = DEFAULT_TENANT,
    fmt: FormatOpt = Format.table,
) -> None:
    """Propose rep, team and region quotas from last year's revenue, headcount (new reps ramp)
    and win rates; show the capacity gap."""
    g = _growth(growth)
    with errors():
        plan = plan_quotas(engine_from(), tenant, year, g, ramp_months, metric, match_target)
    if fmt is Format.json:
        typer.echo(output.dumps(plan))
        return
    if fmt is Format.csv:
        typer.echo(output.to_csv(plan["reps"], ["region", "manager", "rep", "new", "capacity",
                                                "base_actual", "win_rate", "quota",
                                                "pipeline_needed", "deals_needed"]), nl=False)
        return
    table = Table(title=f"Quota plan {year}: {metric} {plan['base_year']} "
                        f"{'+' if g >= 0 else ''}{(g * 100).normalize():f}%")
    for c, j in (("region", "left"), ("manager", "left"), ("rep", "left"), ("new", "left"),
                 ("capacity", "right"), (plan["base_year"], "right"), ("win rate", "right"),
                 ("quota", "right"), ("pipeline needed", "right"), ("deals", "right")):
        table.add_column(c, justify=j)  # type: ignore[arg-type]
    by_team: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for r in plan["reps"]:
        by_team.setdefault((r["region"], r["manager"]), []).append(r)
    teams = {(t["region"], t["manager"]): t for t in plan["teams"]}
    for key, reps in by_team.items():
        for r in reps:
            table.add_row(str(r["region"] or "–"), str(r["manager"] or "–"), r["rep"],
                          (f"hired {r['start']}" if r.get("start") else "left"
                           if r.get("ramp_status") == "left" else "new" if r["new"] else ""),
                          output.plain(r["capacity"]),
                          fmt_money(r["base_actual"]), pct(r["win_rate"]), fmt_money(r["quota"]),
                          num(r["pipeline_needed"]), output.plain(r["deals_needed"]))
        t = teams[key]
        table.add_row("", f"[bold]{t['manager'] or '–'} team[/bold]", f"{t['reps']} reps", "", "",
                      fmt_money(t["base_actual"]), "", f"[bold]{fmt_money(t['quota'])}[/bold]",
                      "", "", end_section=True)
    console.print(table)
    reg = Table(title="Regions")
    for c in ("region", "reps", "new", plan["base_year"], "quota"):
        reg.add_column(c, justify="left" if c == "region" else "right")
    for r in plan["regions"]:
        reg.add_row(str(r["region"] or "–"), str(r["reps"]), str(r["new_reps"]),
                    fmt_money(r["base_actual"]), fmt_money(r["quota"]))
    console.print(reg)
    gap = plan["gap"]
    console.print(f"Target {year}: {fmt_money(plan['target'])} = {plan['base_year']} {metric} "
                  f"{fmt_money(plan['base_actual'])} × {1 + g}", highlight=False)
    console.print(f"Quotas ({plan['method']}): {fmt_money(plan['quota_total'])} over "
                  f"{plan['company']['reps']} reps ({plan['company']['new_reps']} new), "
                  f"coverage {pct(plan['coverage'])}", highlight=False)
    if gap > 0:
        console.print(f"[red]Capacity gap: {fmt_money(gap)}[/red] — the quotas do not cover the "
                      "target; hire, or raise productivity.", highlight=False)
    elif gap < 0:
        console.print(f"[green]Capacity gap: {fmt_money(gap)}[/green] — the quotas exceed the "
                      f"target by {fmt_money(-gap)} (over-assignment).", highlight=False)
    else:
        console.print("Capacity gap: 0 — the quotas add up to the target exactly.")
    for n in plan["notes"]:
        console.print(f"note: {n}", highlight=False)


def register(cli: typer.Typer) -> None:
    """Add ``plan`` to the root app (once, however often it is called)."""
    add_once(cli, plan_app)
