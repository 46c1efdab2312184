"""``attain whatif`` and ``attain plan report``."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from attain.core import UserError, cli_kit, output
from attain.core.cli_kit import FormatOpt, TenantOpt, engine_from, table, user_errors
from attain.core.output import Format
from attain.core.store import DEFAULT_TENANT

from . import whatif as wi


def _decimal(text: str | None, what: str) -> Decimal | None:
    if text is None:
        return None
    try:
        t = text.strip()
        return Decimal(t[:-1]) / 100 if t.endswith("%") else Decimal(t.replace(",", ""))
    except ArithmeticError:
        raise UserError(f"--{what}: {text!r} is not a number") from None


def whatif(
    year: Annotated[int, typer.Option(help="The year to plan (from the year before).")],
    headcount: Annotated[int, typer.Option(help="Hires (+3) or leavers (-2) from 1 January.")] = 0,
    win_rate: Annotated[str | None, typer.Option(help="+5% (relative) or +5pp (points).")] = None,
    deal_size: Annotated[str | None, typer.Option(help="Average deal size change, e.g. +8%.")] = None,
    cycle: Annotated[str | None, typer.Option(help="Sales cycle change, e.g. -10%.")] = None,
    ramp_months: Annotated[int, typer.Option(help="Months a new rep takes to full capacity.")] = 3,
    growth: Annotated[str, typer.Option(help="Target growth over the base year.")] = "10%",
    plan: Annotated[Path | None, typer.Option(help="Commission plan to cost (YAML/JSON).")] = None,
    rep_cost: Annotated[str | None, typer.Option(
        help="Fully loaded yearly cost of one rep (adds to the cost of sales).")] = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    fmt: FormatOpt = Format.table,
) -> None:
    """Recompute next year's plan under changed assumptions: expected revenue, quota coverage,
    capacity gap, hires needed, commission cost and cost of sales."""
    with user_errors(ValueError):
        g = _decimal(growth, "growth")
        assert g is not None
        r = wi.whatif(engine_from(), tenant, year, headcount=headcount,
                      win_rate=wi.Lever.parse(win_rate, "win-rate", points_ok=True),
                      deal_size=wi.Lever.parse(deal_size, "deal-size"),
                      cycle=wi.Lever.parse(cycle, "cycle"), ramp_months=ramp_months, growth=g,
                      plan=plan, rep_cost=_decimal(rep_cost, "rep-cost"))
    if fmt is Format.json:
        typer.echo(output.dumps(r))
        return
    cols = ["rep", "manager", "new", "capacity", "productivity", "factor", "expected", "quota"]
    if fmt is Format.csv:
        typer.echo(output.to_csv(r["reps"], cols), nl=False)
        return
    summary = [{"figure": k, "value": r[k]} for k in (
        "target", "baseline_revenue", "expected_revenue", "quota_total", "quota_coverage",
        "expected_coverage", "capacity_gap", "hires_needed", "headcount", "fte",
        "commission_cost", "commission_rate", "cost_of_sales", "cost_of_sales_ratio")]
    levers = ", ".join(f"{k} {v}" for k, v in r["levers"].items() if v)
    cli_kit.console.print(table(summary, ["figure", "value"],
                        f"What-if {r['year']} (from {r['base_year']}; {levers or 'no change'})"))


REPORT_FORMATS = ("md", "html", "pdf", "json")


def plan_report(
    year: Annotated[int, typer.Option(help="The plan year (from the year before).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="md, html, pdf or json.")] = "md",
    output_file: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write here (PDF needs it); standard output otherwise.")] = None,
    plan: Annotated[Path | None, typer.Option(help="Commission plan to cost (YAML/JSON).")] = None,
    notes: Annotated[Path | None, typer.Option(help="Strategy notes (YAML).")] = None,
    growth: Annotated[str, typer.Option(help="Target growth over the base year.")] = "10%",
    cutoff: Annotated[str | None, typer.Option(
        help="Backtest cutoff (a month's last day); default six months before the data ends.")
    ] = None,
    ramp_months: Annotated[int, typer.Option(help="Months a new rep takes to full capacity.")] = 3,
    tenant: TenantOpt = DEFAULT_TENANT,
) -> None:
    """The plan document: summary, last year's results, goals, segments, forecast and backtest,
    capacity, commission cost, KPI targets, review timeline and strategy notes."""
    from . import charts, render, report

    with user_errors(ValueError):
        if fmt not in REPORT_FORMATS:
            raise UserError(f"--format {fmt!r}: use one of {', '.join(REPORT_FORMATS)}")
        if fmt == "pdf" and output_file is None:
            raise UserError("--format pdf needs --output FILE")
        day = None
        if cutoff is not None:
            import datetime as dt

            try:
                day = dt.date.fromisoformat(cutoff)
            except ValueError:
                raise UserError(f"--cutoff: {cutoff!r} is not a day (YYYY-MM-DD)") from None
        data = report.plan_data(engine_from(), tenant, year, growth=_decimal(growth, "growth"),
                                plan=plan, notes=notes, cutoff=day, ramp_months=ramp_months)
        if fmt == "json":
            _write(output.dumps(data), output_file)
            return
        blocks = render.blocks(data)
        if fmt == "md":
            links = None
            if output_file is not None:
                links = {}
                for name, png in charts.render_all(data).items():
                    img = output_file.with_name(f"{output_file.stem}-{name}.png")
                    img.write_bytes(png)
                    links[name] = img.name
            _write(render.to_markdown(blocks, links), output_file)
        elif fmt == "html":
            _write(render.to_html(blocks, charts.render_all(data)), output_file)
        else:
            assert output_file is not None
            engine = render.to_pdf(blocks, charts.render_all(data), output_file)
            cli_kit.console.print(f"wrote {output_file} ({engine})", highlight=False)


def _write(text: str, path: Path | None) -> None:
    if path is None:
        typer.echo(text)
        return
    try:
        path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    except OSError as exc:
        raise UserError(f"--output: cannot write {path}: {exc.strerror or exc}") from None
