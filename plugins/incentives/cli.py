"""``attain commission …``: plans, runs, statements, explanations, workflow, what-if, accruals."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

import typer
from attain.core import DEFAULT_TENANT, output
from attain.core.cli_kit import (
    FormatOpt,
    TenantOpt,
    console,
    emit,
    engine_from,
    err,
    error_line,
    user_errors,
)
from attain.core.output import Format
from rich.table import Table

from .model import RuleError
from .money import to_decimal
from .periods import Period, PeriodError
from .plans import PlanError
from .render import statement_csv, statement_html
from .service import Incentives, IncentivesError

commission_app = typer.Typer(help="Commissions: plans, statements, explanations, approvals, "
                             "what-if and live accruals.", no_args_is_help=True)
plan_app = typer.Typer(help="Validate, store and list commission plans.", no_args_is_help=True)
inquiry_app = typer.Typer(help="Reps' inquiries (disputes) about statement lines.",
                          no_args_is_help=True)
commission_app.add_typer(plan_app, name="plan")
commission_app.add_typer(inquiry_app, name="inquiry")

Fmt = Format


class StatementFmt(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    html = "html"


RepOpt = Annotated[str, typer.Option("--rep", "-r", help="The rep (payee), e.g. 'Darcel Schlecht'.")]
PeriodOpt = Annotated[str, typer.Option("--period", "-p", help="2017-Q1 (quarter) or 2017-03 (month).")]
ByOpt = Annotated[str | None, typer.Option("--by", help="Who does it (recorded in the audit log).")]

#: the plugin's user errors: one ``error:`` line, exit status 2
_friendly = user_errors(IncentivesError, PlanError, PeriodError, RuleError, soft_wrap=True)


def _svc(tenant: str) -> Incentives:
    return Incentives(engine_from(), tenant)


def _period(text: str) -> Period:
    return Period.parse(text)


def _money(v: Any) -> str:
    return output.money(v)


def _emit(rows: list[dict[str, Any]], columns: Sequence[str], fmt: Fmt, title: str,
          money: Sequence[str] = ()) -> None:
    emit(rows, columns, fmt, title, money)


def _done(fmt: Fmt, data: Any, line: Callable[[], str]) -> None:
    """A command's outcome: ``data`` as JSON, or the one-line summary ``line()``."""
    if fmt is Fmt.json:
        typer.echo(output.dumps(data))
    else:
        typer.echo(line())


# -- rule types and plans ------------------------------------------------------------------------


@commission_app.command("rules")
@_friendly
def rules_cmd(tenant: TenantOpt = DEFAULT_TENANT, fmt: FormatOpt = Fmt.table) -> None:
    """Rule types available to plans, with the plugin (and version) that provides each."""
    rows = _svc(tenant).rule_types()
    for r in rows:
        r["params"] = ", ".join(r["params"])
        r["roles"] = ", ".join(r["roles"])
    _emit(rows, ["name", "plugin", "plugin_version", "roles", "params", "description"], fmt,
          "Commission rule types")


@plan_app.command("validate")
@_friendly
def plan_validate(file: str, tenant: TenantOpt = DEFAULT_TENANT) -> None:
    """Check a plan file; errors name the line and the field."""
    plan, _ = _svc(tenant).parse_plan(file)
    typer.echo(f"{file}: plan {plan.name!r} is valid: {len(plan.rules)} rules "
               f"({', '.join(r.type.name for r in plan.rules)}), paid by {plan.period}")


@plan_app.command("load")
@_friendly
def plan_load(file: str, tenant: TenantOpt = DEFAULT_TENANT, by: ByOpt = None) -> None:
    """Store a plan version (history is kept) and record its assignments and splits."""
    plan = _svc(tenant).load_plan(file, by)
    typer.echo(f"stored plan {plan.name!r} version {plan.version} "
               f"(effective {plan.effective_from or '…'} – {plan.effective_to or '…'})")


@plan_app.command("list")
@_friendly
def plan_list(name: Annotated[str | None, typer.Option(help="Only this plan.")] = None,
              tenant: TenantOpt = DEFAULT_TENANT, fmt: FormatOpt = Fmt.table) -> None:
    """Stored plan versions."""
    rows = _svc(tenant).plan_versions(name)
    _emit(rows, ["plan", "version", "effective_from", "effective_to", "period", "checksum",
                 "source", "stored_at"], fmt, "Plan versions")


@commission_app.command("assign")
@_friendly
def assign_cmd(rep: RepOpt, plan: Annotated[str, typer.Option(help="Plan name.")],
               start: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
               end: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
               quota: Annotated[str | None, typer.Option(help="Quota per period.")] = None,
               tenant: TenantOpt = DEFAULT_TENANT, by: ByOpt = None) -> None:
    """Assign a rep to a plan from START to END with a quota (earlier assignments are kept)."""
    _svc(tenant).assign(rep, plan, dt.date.fromisoformat(start) if start else None,
                        dt.date.fromisoformat(end) if end else None,
                        to_decimal(quota) if quota else None, by)
    typer.echo(f"{rep} → {plan} ({start or '…'} – {end or '…'}, quota {quota or 'plan default'})")


@commission_app.command("assignments")
@_friendly
def assignments_cmd(rep: Annotated[str | None, typer.Option("--rep", "-r")] = None,
                    tenant: TenantOpt = DEFAULT_TENANT, fmt: FormatOpt = Fmt.table) -> None:
    """Assignment history (the latest batch covering a period applies; '*' = everyone)."""
    rows = _svc(tenant).assignments(rep)
    _emit(rows, ["batch", "rep", "plan", "start", "end", "quota", "origin", "recorded_at"], fmt,
          "Assignments", money=("quota",))


@commission_app.command("split")
@_friendly
def split_cmd(deal: Annotated[str, typer.Option(help="Deal id.")],
              share: Annotated[list[str] | None, typer.Option(
                  help="REP=PERCENT, repeat; percentages must sum to 100.")] = None,
              clear: Annotated[bool, typer.Option(help="Credit the owner alone again.")] = False,
              tenant: TenantOpt = DEFAULT_TENANT, by: ByOpt = None) -> None:
    """Split a deal's credit among reps."""
    shares: dict[str, Decimal] = {}
    for s in share or []:
        rep, sep, pct = s.rpartition("=")
        if not sep or not rep.strip():
            raise IncentivesError(f"--share {s!r}: use REP=PERCENT")
        shares[rep.strip()] = to_decimal(pct)
    if not shares and not clear:
        raise IncentivesError("give --share REP=PERCENT (repeatable) or --clear")
    _svc(tenant).set_split(deal, None if clear else shares, by)
    typer.echo(f"{deal}: " + (", ".join(f"{k} {v}%" for k, v in shares.items()) or "owner only"))


# -- running and reading statements -------------------------------------------------------------


@commission_app.command("run")
@_friendly
def run_cmd(period: PeriodOpt,
            plan: Annotated[str | None, typer.Option(help="Plan file: store it and compute its "
                                                     "payees (default: every assigned payee).")] = None,
            tenant: TenantOpt = DEFAULT_TENANT, by: ByOpt = None, fmt: FormatOpt = Fmt.table,
            ) -> None:
    """Compute every rep's statement for a period (locked periods never change)."""
    svc = _svc(tenant)
    pv = svc.load_plan(plan, by) if plan else None
    outcomes = svc.run(_period(period), pv, by)
    failed = [o for o in outcomes if o.status == "error"]
    if fmt is Fmt.json:
        total = sum((o.total for o in outcomes if o.total is not None), Decimal(0))
        typer.echo(output.dumps({"period": period, "plan": pv.name if pv else None,
                                 "plan_version": pv.version if pv else None,
                                 "statements": [o.as_dict() for o in outcomes], "total": total}))
    elif fmt is Fmt.csv:
        _emit([o.as_dict() for o in outcomes], RUN_COLUMNS, fmt, "")
    else:
        done = [o.as_dict() for o in outcomes if o.status != "error"]
        if done or not failed:
            _emit(done, RUN_COLUMNS, fmt, f"Commission run {period}",
                  money=("total", "previous_total"))
    if failed:
        for line in failure_summary(failed):
            error_line(line, soft_wrap=True)
        raise typer.Exit(1)


RUN_COLUMNS = ["rep", "status", "total", "previous_total", "plan", "plan_version", "lines",
               "message"]


def failure_summary(failed: Sequence[Any], shown: int = 3) -> list[str]:
    """One line per distinct reason: how many statements failed with it and whose (the first
    ``shown`` names, then how many more). A reason naming its payee ("… but Bob has none") is
    the same reason as for another payee: it is counted once, as "the payee"."""
    by_reason: dict[str, list[str]] = {}
    for o in failed:
        reason = o.message or "unknown error"
        reason = re.sub(rf"(?<!\w){re.escape(o.payee)}(?!\w)", "the payee", reason)
        by_reason.setdefault(reason, []).append(o.payee)
    out = []
    for reason, payees in by_reason.items():
        n = len(payees)
        who = ", ".join(payees[:shown]) + (f" and {n - shown} more" if n > shown else "")
        out.append(f"{n} statement{'s' if n != 1 else ''} failed: {reason} ({who})")
    return out


def _print_statement(st: dict[str, Any], explain: bool) -> None:
    head = (f"[bold]{st['rep']}[/bold]  {st['period']}  plan {st.get('plan')} "
            f"v{st.get('plan_version')}  status [bold]{st['status']}[/bold]"
            + (" (locked)" if st.get("locked") else "")
            + (f"  revision {st['revision']}" if st.get("revision") else ""))
    console.print(head)
    console.print(f"credited {_money(st.get('credited'))} of quota {_money(st.get('quota'))}"
                  f" → attainment {output.plain(st.get('attainment_pct'))} %"
                  + (f";  team {_money(st.get('team_credited'))} of "
                     f"{_money(st.get('team_quota'))} → "
                     f"{output.plain(st.get('team_attainment_pct'))} %"
                     if st.get("team_credited") is not None else ""), highlight=False)
    cols = ["line", "deal", "rule", "kind", "basis", "rate", "tier", "amount"]
    if explain:
        cols = ["line", "deal", "rule", "kind", "inputs", "basis", "rate", "tier", "amount",
                "note"]
    t = Table()
    for c in cols:
        t.add_column(c, justify="right" if c in ("line", "basis", "rate", "exact", "amount")
                     else "left", overflow="fold")
    for ln in st["lines"]:
        vals = []
        for c in cols:
            v = ln.get(c)
            if c == "inputs":
                v = ", ".join(f"{k}={output.plain(x)}" for k, x in (v or {}).items()
                              if k in ("deal_amount", "product", "deal_type", "due", "booked",
                                       "earned", "balance_before", "credited"))
                if ln.get("share_pct") is not None:
                    v += f", {ln.get('rep')} {output.plain(ln['share_pct'])}%"
            elif c == "plugin":
                v = f"{ln.get('plugin')} {ln.get('plugin_version') or ''}".strip()
            vals.append(_money(v) if c in ("basis", "amount") else output.plain(v))
        t.add_row(*vals)
    t.add_row(*[f"[bold]{_money(st['total'])}[/bold]" if c == "amount" else
                ("[bold]total[/bold]" if c == "deal" else "") for c in cols])
    console.print(t)
    if explain:
        prov = sorted({f"{ln.get('type')} ← {ln.get('plugin')} {ln.get('plugin_version') or ''}"
                       .strip() for ln in st["lines"]})
        console.print("computed by: " + "; ".join(prov), highlight=False)
    if st.get("difference"):
        d = st["difference"]
        console.print(f"[yellow]changed since approval[/yellow]: approved "
                      f"{_money(d['approved_total'])}, now {_money(d['total'])} "
                      f"(Δ {_money(d['delta'])}); {len(d['added'])} line(s) added, "
                      f"{len(d['removed'])} removed — needs re-approval")
    if st.get("open_inquiries"):
        console.print(f"{st['open_inquiries']} open inquiry(ies)")


@commission_app.command("explain")
@_friendly
def explain_cmd(rep: RepOpt, period: PeriodOpt,
                fresh: Annotated[bool, typer.Option(help="Recompute now instead of showing the "
                                                    "stored statement.")] = False,
                tenant: TenantOpt = DEFAULT_TENANT, fmt: FormatOpt = Fmt.table) -> None:
    """Each deal and rule with inputs, rate, tier and result; the lines sum to the total."""
    st = _svc(tenant).explain(rep, _period(period), fresh)
    if fmt is Fmt.json:
        typer.echo(output.dumps(st))
    elif fmt is Fmt.csv:
        typer.echo(statement_csv(st), nl=False)
    else:
        _print_statement(st, explain=True)
        console.print(f"sum of {len(st['lines'])} lines = {_money(st['check']['sum_of_lines'])}"
                      f" = total; by rule: " + ", ".join(
                          f"{k} {_money(v)}" for k, v in st["by_rule"].items()), highlight=False)


@commission_app.command("statement")
@_friendly
def statement_cmd(rep: RepOpt, period: PeriodOpt,
                  revision: Annotated[int | None, typer.Option(help="An earlier revision.")] = None,
                  tenant: TenantOpt = DEFAULT_TENANT,
                  fmt: Annotated[StatementFmt, typer.Option("--format", "-f")] = StatementFmt.table,
                  ) -> None:
    """A rep's statement (stored; an unsaved preview if it was never run)."""
    st = _svc(tenant).statement(rep, _period(period), revision)
    if fmt is StatementFmt.json:
        typer.echo(output.dumps(st))
    elif fmt is StatementFmt.csv:
        typer.echo(statement_csv(st), nl=False)
    elif fmt is StatementFmt.html:
        typer.echo(statement_html(st), nl=False)
    else:
        _print_statement(st, explain=False)


@commission_app.command("statements")
@_friendly
def statements_cmd(period: Annotated[str | None, typer.Option("--period", "-p")] = None,
                   rep: Annotated[str | None, typer.Option("--rep", "-r")] = None,
                   tenant: TenantOpt = DEFAULT_TENANT, fmt: FormatOpt = Fmt.table) -> None:
    """Stored statements with status and total."""
    rows = _svc(tenant).statements(_period(period) if period else None, rep)
    _emit(rows, ["period", "rep", "status", "locked", "revision", "total", "approved_total",
                 "plan", "plan_version"], fmt, "Statements", money=("total", "approved_total"))


# -- periods and workflow -----------------------------------------------------------------------


@commission_app.command("lock")
@_friendly
def lock_cmd(period: PeriodOpt, tenant: TenantOpt = DEFAULT_TENANT, by: ByOpt = None,
             force: Annotated[bool, typer.Option(help="Lock even if some statements cannot be "
                                                 "computed.")] = False) -> None:
    """Close a period: statements not yet run are computed, then every statement is frozen.
    Later changes touching it are paid as adjustments in the first open period."""
    outcomes = _svc(tenant).lock(_period(period), by, force)
    typer.echo(f"{period} locked ({len(outcomes)} statement(s) computed before locking)")


@commission_app.command("periods")
@_friendly
def periods_cmd(tenant: TenantOpt = DEFAULT_TENANT, fmt: FormatOpt = Fmt.table) -> None:
    """Periods with statements, and which are locked."""
    _emit(_svc(tenant).periods(), ["period", "locked", "locked_at", "locked_by", "statements"],
          fmt, "Periods")


@commission_app.command("approve")
@_friendly
def approve_cmd(rep: RepOpt, period: PeriodOpt,
                by: Annotated[str, typer.Option("--by", help="The approving manager.")],
                tenant: TenantOpt = DEFAULT_TENANT, fmt: FormatOpt = Fmt.table) -> None:
    """Manager approval of a draft (or changed) statement."""
    st = _svc(tenant).approve(rep, _period(period), by)
    _done(fmt, st, lambda: f"{rep} {period}: approved by {by} (total {_money(st['total'])})")


@commission_app.command("signoff")
@_friendly
def signoff_cmd(rep: RepOpt, period: PeriodOpt, by: ByOpt = None,
                tenant: TenantOpt = DEFAULT_TENANT, fmt: FormatOpt = Fmt.table) -> None:
    """The rep signs off an approved statement."""
    st = _svc(tenant).signoff(rep, _period(period), by)
    _done(fmt, st, lambda: f"{rep} {period}: signed off (total {_money(st['total'])})")


@commission_app.command("adjust")
@_friendly
def adjust_cmd(rep: RepOpt, period: PeriodOpt,
               amount: Annotated[str, typer.Option(help="Signed amount in cents, e.g. -120.50")],
               reason: Annotated[str, typer.Option(help="Why (shown on the statement).")],
               tenant: TenantOpt = DEFAULT_TENANT, by: ByOpt = None,
               fmt: FormatOpt = Fmt.table) -> None:
    """Book a manual adjustment (into the first open period if PERIOD is locked)."""
    out = _svc(tenant).adjust(rep, _period(period), to_decimal(amount), reason, by)
    _done(fmt, out, lambda: f"adjustment {out['id']}: {_money(out['amount'])} for {rep} paid in "
                            f"{out['period']}")


@inquiry_app.command("open")
@_friendly
def inquiry_open(rep: RepOpt, period: PeriodOpt,
                 text: Annotated[str, typer.Option(help="What is disputed.")],
                 line: Annotated[int | None, typer.Option(help="Statement line number.")] = None,
                 by: ByOpt = None, tenant: TenantOpt = DEFAULT_TENANT,
                 fmt: FormatOpt = Fmt.table) -> None:
    """A rep disputes a statement line."""
    inq = _svc(tenant).open_inquiry(rep, _period(period), line, text, by)
    _done(fmt, inq, lambda: f"inquiry {inq['id']} opened on {rep} {period} line {line or '–'}")


@inquiry_app.command("list")
@_friendly
def inquiry_list(status: Annotated[str | None, typer.Option(help="open, answered or adjusted")] = None,
                 rep: Annotated[str | None, typer.Option("--rep", "-r")] = None,
                 tenant: TenantOpt = DEFAULT_TENANT, fmt: FormatOpt = Fmt.table) -> None:
    """Inquiries and how they were resolved."""
    rows = _svc(tenant).inquiries(status, rep)
    _emit(rows, ["id", "rep", "period", "line", "status", "text", "reply", "adjustment_id",
                 "raised_by", "resolved_by"], fmt, "Inquiries")


@inquiry_app.command("resolve")
@_friendly
def inquiry_resolve(inquiry_id: Annotated[int, typer.Argument(help="Inquiry id.")],
                    reply: Annotated[str | None, typer.Option(help="Answer to the rep.")] = None,
                    adjust: Annotated[str | None, typer.Option(help="Adjustment amount.")] = None,
                    by: ByOpt = None, tenant: TenantOpt = DEFAULT_TENANT,
                    fmt: FormatOpt = Fmt.table) -> None:
    """Resolve an inquiry with a reply and/or an adjustment."""
    inq = _svc(tenant).resolve_inquiry(inquiry_id, by, reply,
                                       to_decimal(adjust) if adjust is not None else None)
    _done(fmt, inq, lambda: f"inquiry {inquiry_id}: {inq['status']}")


# -- what-if, accruals, audit -------------------------------------------------------------------


@commission_app.command("whatif")
@_friendly
def whatif_cmd(rep: RepOpt,
               deal_amount: Annotated[str | None, typer.Option(
                   help="What would I earn if I close a deal of this amount?")] = None,
               plan: Annotated[str | None, typer.Option(
                   help="A plan file to try (not stored).")] = None,
               period: Annotated[str | None, typer.Option("--period", "-p",
                                                          help="Default: the latest period.")] = None,
               year: Annotated[int | None, typer.Option(
                   help="With --plan and no --deal-amount: how the plan would have paid that "
                   "year (default: the latest year with deals).")] = None,
               product: Annotated[str | None, typer.Option(help="Product of the deal.")] = None,
               tenant: TenantOpt = DEFAULT_TENANT, fmt: FormatOpt = Fmt.table) -> None:
    """What-if: the commission of one more deal, or a new plan replayed over a year."""
    svc = _svc(tenant)
    pv = svc.parse_plan(plan)[0] if plan else None
    if deal_amount is None:
        if pv is None:
            raise IncentivesError("give --deal-amount, or --plan FILE to replay a year")
        out = svc.compare(rep, pv, year)
        if fmt is Fmt.json:
            typer.echo(output.dumps(out))
            return
        _emit(out["periods"], ["period", "current_plan", "current", "new", "delta"], fmt,
              f"{rep}: plan {pv.name} over {out['year']}", money=("current", "new", "delta"))
        typer.echo(f"total: current {_money(out['total_current'])}, with {pv.name} "
                   f"{_money(out['total_new'])} (Δ {_money(out['delta'])})")
        return
    res = svc.whatif(rep, to_decimal(deal_amount), _period(period) if period else None, pv,
                     product)
    if fmt is Fmt.json:
        typer.echo(output.dumps(res))
        return
    typer.echo(f"{rep}, {res['period']} ({res['plan']} v{res['plan_version']}): closing "
               f"{_money(res['deal_amount'])} pays {_money(res['you_would_earn'])} "
               f"(effective rate {output.plain(res['effective_rate'])}); statement "
               f"{_money(res['current_total'])} → {_money(res['total_with_deal'])}; attainment "
               f"{output.plain(res['attainment_pct_before'])} % → "
               f"{output.plain(res['attainment_pct_after'])} %")


@commission_app.command("accruals")
@_friendly
def accruals_cmd(period: Annotated[str | None, typer.Option("--period", "-p")] = None,
                 rebuild: Annotated[bool, typer.Option(help="Recompute every accrual now.")] = False,
                 tenant: TenantOpt = DEFAULT_TENANT, fmt: FormatOpt = Fmt.table) -> None:
    """Live accruals (updated from deal events as they arrive)."""
    svc = _svc(tenant)
    p = _period(period) if period else None
    if rebuild:
        n = svc.rebuild_accruals([p] if p else None)
        err.print(f"rebuilt {n} accrual(s)")
    _emit(svc.accruals(p), ["period", "rep", "total", "credited", "deals", "plan",
                            "plan_version", "updated_at"], fmt, "Accruals",
          money=("total", "credited"))


@commission_app.command("audit")
@_friendly
def audit_cmd(limit: Annotated[int, typer.Option(help="Most recent N entries.")] = 50,
              tenant: TenantOpt = DEFAULT_TENANT, fmt: FormatOpt = Fmt.table) -> None:
    """Who did what: plans, assignments, runs, locks, approvals, inquiries, adjustments."""
    _emit(_svc(tenant).audit(limit), ["at", "actor", "action", "rep", "period", "details"], fmt,
          "Audit log")


def register(cli: typer.Typer) -> None:
    """Add ``commission`` to the root app (through :func:`attain.core.lazy_cli.lazy_commands`)."""
    cli.add_typer(commission_app, name="commission")
