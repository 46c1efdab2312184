"""``attain goals …`` (added through ``attain_register_commands``)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from attain.core import UserError, output
from attain.core.cli_kit import FormatOpt, TenantOpt, console, engine_from, err, fitted_tables
from attain.core.output import Format
from attain.core.store import DEFAULT_TENANT
from pydantic import ValidationError
from rich.table import Table

from .cli_common import add_once, errors, num, pct
from .model import CascadeSpec, parse_decimal
from .service import GoalService
from .settings import KEYS, load_settings, validate_setting

goals_app = typer.Typer(name="goals", no_args_is_help=True,
                        help="SMART goals and quotas: define, cascade, track pace and status.")

AsOfOpt = Annotated[str | None, typer.Option(
    "--as-of", help="Evaluate as of this day (YYYY-MM-DD, included); default today.")]

def _service(tenant: str) -> GoalService:
    return GoalService(engine_from(), tenant)


def _as_of(value: str | None) -> dt.date:
    if value is None or value == "today":
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint="--as-of") from None


def _period_text(p: Any) -> str:
    if isinstance(p, dict):
        return f"{p['start']}..{p['end']}"
    return str(p)


def _warn(warnings: dict[str, list[str]]) -> None:
    for gid, ws in warnings.items():
        for w in ws:
            err.print(f"[yellow]warning:[/yellow] {gid}: {w}", highlight=False)


# -- goals add / apply ----------------------------------------------------------------------------


@goals_app.command("add")
def add(
    metric: Annotated[str | None, typer.Option(help="KPI name (attain kpi lists them).")] = None,
    owner: Annotated[str | None, typer.Option(
        help="company | region:NAME | manager:NAME | rep:NAME")] = None,
    period: Annotated[str | None, typer.Option(
        help='"2017", "2017-H1", "2017-Q3", "2017-07" or "2017-01-15..2017-02-14"')] = None,
    target: Annotated[str | None, typer.Option(help="Absolute target, e.g. 10000000 or 2.5M.")] = None,
    growth: Annotated[str | None, typer.Option(
        help="Relative target instead: growth over the baseline, e.g. 10% or -8%.")] = None,
    baseline: Annotated[str | None, typer.Option(
        help="Baseline period of --growth (default: the same period a year earlier).")] = None,
    goal_id: Annotated[str | None, typer.Option("--id", help="Goal id (default: derived).")] = None,
    stretch: Annotated[str | None, typer.Option(help="Stretch target.")] = None,
    stretch_reward: Annotated[bool, typer.Option(help="Reaching the stretch earns a reward.")] = False,
    kind: Annotated[str, typer.Option(help="Goal type: outcome | activity.")] = "outcome",
    direction: Annotated[str | None, typer.Option(help="up | down (lower is better).")] = None,
    pacing: Annotated[str, typer.Option(help="linear | seasonal.")] = "linear",
    cascade_periods: Annotated[str | None, typer.Option(help="Cascade to quarter | month.")] = None,
    cascade_owners: Annotated[str | None, typer.Option(
        help="Cascade down owner levels, e.g. rep or region,rep.")] = None,
    cascade_method: Annotated[str, typer.Option(help="equal | capacity | history.")] = "equal",
    period_method: Annotated[str, typer.Option(help="equal | days | seasonal.")] = "equal",
    ramp_months: Annotated[int, typer.Option(help="Ramp of new reps (capacity).")] = 3,
    replace: Annotated[bool, typer.Option(help="Replace a goal with the same id.")] = False,
    description: Annotated[str | None, typer.Option(help="Free text.")] = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    fmt: FormatOpt = Format.table,
) -> None:
    """Add one goal (validated SMART; cascaded when --cascade-* is given)."""
    raw: dict[str, Any] = {"id": goal_id, "metric": metric, "owner": owner, "period": period,
                           "kind": kind, "pacing": pacing, "description": description}
    if growth is not None:
        raw["target"] = {"growth": growth, **({"baseline": baseline} if baseline else {})}
        if target is not None:
            raise typer.BadParameter("give --target or --growth, not both", param_hint="--growth")
    else:
        raw["target"] = target
    if direction:
        raw["direction"] = direction
    if stretch is not None:
        raw["stretch"] = {"target": stretch, "reward": stretch_reward}
    if cascade_periods or cascade_owners:
        raw["cascade"] = {"periods": cascade_periods, "owners": cascade_owners,
                          "method": cascade_method, "period_method": period_method,
                          "ramp_months": ramp_months}
    with errors():
        svc = _service(tenant)
        res = svc.add({k: v for k, v in raw.items() if v is not None}, replace=replace)
    _report_apply(res.as_dict(), fmt)


@goals_app.command("apply")
def apply(
    file: Annotated[Path, typer.Argument(help="plan.yaml with a top-level `goals:` list.")],
    tenant: TenantOpt = DEFAULT_TENANT,
    fmt: FormatOpt = Format.table,
) -> None:
    """Create or update the goals of a YAML plan (all validated first; all or nothing)."""
    with errors():
        if not file.is_file():
            raise UserError(f"no such file: {file}")
        try:
            doc = yaml.safe_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise UserError(f"{file}: not valid YAML: {exc}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("goals"), list):
            raise UserError(f"{file}: expected a mapping with a `goals:` list")
        unknown = set(doc) - {"goals"}
        if unknown:
            raise UserError(f"{file}: unknown top-level keys {sorted(unknown)}; only `goals:`")
        res = _service(tenant).apply(doc["goals"])
    _report_apply(res.as_dict(), fmt)


def _report_apply(res: dict[str, Any], fmt: Format) -> None:
    if fmt is Format.json:
        typer.echo(output.dumps(res))
        return
    _warn(res["warnings"])
    for what in ("created", "updated", "unchanged"):
        for gid in res[what]:
            kids = res["children"].get(gid)
            extra = f" (+{kids} cascaded goal(s))" if kids else ""
            typer.echo(f"{what}: {gid}{extra}")
    for gid, notes in res["notes"].items():
        for n in notes:
            typer.echo(f"  note {gid}: {n}")


# -- goals list / show / cascade ------------------------------------------------------------------


def _goal_row(g: Any) -> dict[str, Any]:
    return {"id": g.id, "parent": g.parent, "metric": g.metric, "owner": g.owner,
            "period": g.period.as_json(), "target": g.target, "stretch": g.stretch,
            "stretch_reward": g.stretch_reward, "kind": g.kind, "direction": g.direction,
            "aggregation": g.aggregation, "pacing": g.pacing, "pinned": g.pinned,
            "target_basis": g.target_basis,
            "cascade": g.cascade.model_dump() if g.cascade else None, "notes": g.notes}


@goals_app.command("list")
def list_(
    roots: Annotated[bool, typer.Option("--roots", help="Only goals that are not cascaded "
                                        "from another.")] = False,
    tenant: TenantOpt = DEFAULT_TENANT,
    fmt: FormatOpt = Format.table,
) -> None:
    """List goals (cascaded children included unless --roots)."""
    with errors():
        goals = _service(tenant).goals()
    if roots:
        goals = [g for g in goals if g.parent is None]
    rows = [_goal_row(g) for g in goals]
    if fmt is Format.json:
        typer.echo(output.dumps(rows))
        return
    if fmt is Format.csv:
        flat = [{**r, "period": _period_text(r["period"])} for r in rows]
        typer.echo(output.to_csv(flat, ["id", "parent", "metric", "owner", "period", "target",
                                        "stretch", "kind", "pinned"]), nl=False)
        return
    table = Table(title=f"Goals (tenant {tenant}): {len(rows)}")
    for c, j in (("id", "left"), ("metric", "left"), ("owner", "left"), ("period", "left"),
                 ("target", "right"), ("stretch", "right"), ("kind", "left")):
        table.add_column(c, justify=j, overflow="fold")  # type: ignore[arg-type]
    for g in goals:
        money = g.aggregation == "cumulative"
        table.add_row("  " * g.depth + g.id.rsplit("/", 1)[-1] if g.parent else g.id,
                      g.metric, g.owner, g.period.label, num(g.target, money),
                      num(g.stretch, money) + (" ★" if g.stretch_reward else ""), g.kind)
    console.print(table)


@goals_app.command("show")
def show(goal_id: Annotated[str, typer.Argument(help="Goal id.")],
         tenant: TenantOpt = DEFAULT_TENANT, fmt: FormatOpt = Format.table) -> None:
    """One goal: definition, notes, its cascade with sums and gaps."""
    with errors():
        svc = _service(tenant)
        g = svc.get(goal_id)
        tree = svc.tree_rows(goal_id)
    data = {**_goal_row(g), "spec": g.spec(), "cascade_tree": tree}
    if fmt is Format.json:
        typer.echo(output.dumps(data))
        return
    t = Table(title=f"Goal {g.id}", show_header=False)
    t.add_column("field")
    t.add_column("value", overflow="fold")
    money = g.aggregation == "cumulative"
    for k, v in (("metric", g.metric), ("owner", g.owner),
                 ("period", f"{g.period.label} ({g.period.start} … {g.period.end}, "
                            f"{g.period.days} days)"),
                 ("target", num(g.target, money)),
                 ("stretch", num(g.stretch, money) + (" (reward)" if g.stretch_reward else "")),
                 ("kind", g.kind), ("direction", g.direction), ("aggregation", g.aggregation),
                 ("pacing", g.pacing), ("parent", g.parent or "–"),
                 ("pinned", "yes" if g.pinned else "no"),
                 ("cascade", output.dumps(g.cascade.model_dump(exclude_defaults=True), None)
                  if g.cascade else "–")):
        t.add_row(k, str(v))
    for n in g.notes:
        t.add_row("note", n)
    console.print(t)
    if len(tree) > 1:
        _print_tree(tree, money)


def _print_tree(tree: list[dict[str, Any]], money: bool) -> None:
    table = Table(title="Cascade (children always add up to their parent unless a gap is shown)")
    for c, j in (("goal", "left"), ("owner", "left"), ("period", "left"), ("target", "right"),
                 ("children sum", "right"), ("gap", "right")):
        table.add_column(c, justify=j, overflow="fold")  # type: ignore[arg-type]
    for r in tree:
        name = ("  " * r["depth"]) + (r["id"].rsplit("/", 1)[-1] if r["depth"] else r["id"])
        gap = r.get("gap")
        table.add_row(name + (" (pinned)" if r["pinned"] else ""), r["owner"],
                      _period_text(r["period"]), num(r["target"], money),
                      num(r.get("children_sum"), money) if "children_sum" in r else "",
                      ("" if gap is None else ("[green]0[/green]" if gap == 0
                                               else f"[red]{num(gap, money)}[/red]")))
    console.print(table)


@goals_app.command("cascade")
def cascade(
    goal_id: Annotated[str, typer.Argument(help="Goal id.")],
    periods: Annotated[str | None, typer.Option(help="Split into quarter | month.")] = None,
    owners: Annotated[str | None, typer.Option(help="Owner levels, e.g. rep or region,rep.")] = None,
    method: Annotated[str | None, typer.Option(help="equal | capacity | history.")] = None,
    period_method: Annotated[str | None, typer.Option(help="equal | days | seasonal.")] = None,
    ramp_months: Annotated[int | None, typer.Option(help="Ramp of new reps (capacity).")] = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    fmt: FormatOpt = Format.table,
) -> None:
    """(Re)build a goal's cascade (its own spec, or the one given) and show it with sums."""
    with errors():
        svc = _service(tenant)
        spec = None
        if any(v is not None for v in (periods, owners, method, period_method, ramp_months)):
            base = svc.get(goal_id).cascade
            data = base.model_dump() if base else {}
            for k, v in (("periods", periods), ("owners", owners), ("method", method),
                         ("period_method", period_method), ("ramp_months", ramp_months)):
                if v is not None:
                    data[k] = v
            try:
                spec = CascadeSpec.model_validate(data)
            except ValidationError as exc:
                raise UserError("cascade: " + "; ".join(
                    f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
        nodes = svc.cascade(goal_id, spec)
        tree = svc.tree_rows(goal_id)
    if fmt is Format.json:
        typer.echo(output.dumps(tree))
        return
    typer.echo(f"cascaded {goal_id}: {len(nodes) - 1} goal(s)")
    _print_tree(tree, nodes[0].aggregation == "cumulative")


@goals_app.command("set-target")
def set_target(
    goal_id: Annotated[str, typer.Argument(help="Goal id.")],
    value: Annotated[str, typer.Argument(help="New target.")],
    keep_siblings: Annotated[bool, typer.Option(
        "--keep-siblings", help="Do not re-balance siblings; report the gap instead.")] = False,
    tenant: TenantOpt = DEFAULT_TENANT,
    fmt: FormatOpt = Format.table,
) -> None:
    """Edit a goal's target: siblings are re-balanced so the parent still adds up exactly."""
    with errors():
        report = _service(tenant).set_target(goal_id, parse_decimal(value, "target"),
                                             keep_siblings)
    if fmt is Format.json:
        typer.echo(output.dumps(report))
        return
    typer.echo(f"{goal_id}: {report['old']} → {report['new']} ({report['mode']})")
    for s in report["siblings"]:
        typer.echo(f"  sibling {s['id']}: {s['old']} → {s['new']}")
    if "parent" in report:
        gap = report["gap"]
        line = (f"  parent {report['parent']}: target {report['parent_target']}, children sum "
                f"{report['children_sum']}, gap {gap}")
        if gap:
            err.print(f"[yellow]warning:[/yellow] {line.strip()} (children no longer add up)")
        else:
            typer.echo(line)


@goals_app.command("remove")
def remove(goal_id: Annotated[str, typer.Argument(help="Goal id.")],
           tenant: TenantOpt = DEFAULT_TENANT) -> None:
    """Remove a goal and its whole cascade."""
    with errors():
        n = _service(tenant).remove(goal_id)
    typer.echo(f"removed {n} goal(s)")


# -- progress / check -----------------------------------------------------------------------------

PROGRESS_COLUMNS = ["id", "parent", "owner", "metric", "period", "target", "actual",
                    "attainment", "expected_attainment", "projection", "projection_run_rate",
                    "status", "as_of"]


@goals_app.command("progress")
def progress(
    goal_id: Annotated[str | None, typer.Argument(help="Only this goal and its cascade.")] = None,
    as_of: AsOfOpt = None,
    status: Annotated[str | None, typer.Option(help="Only goals with this status.")] = None,
    tenant: TenantOpt = DEFAULT_TENANT,
    fmt: FormatOpt = Format.table,
) -> None:
    """Attainment, pace, projections and status of every goal (children included)."""
    day = _as_of(as_of)
    with errors():
        svc = _service(tenant)
        rows = svc.progress(day, goal_id)
        th = svc.settings.thresholds
    if status:
        rows = [r for r in rows if r["status"] == status]
    if fmt is Format.json:
        typer.echo(output.dumps(rows))
        return
    if fmt is Format.csv:
        flat = [{**r, "period": _period_text(r["period"])} for r in rows]
        typer.echo(output.to_csv(flat, PROGRESS_COLUMNS), nl=False)
        return
    cells = []
    for r in rows:
        money = r["aggregation"] == "cumulative"
        depth = r["id"].count("/")
        name = ("  " * depth) + (r["id"].rsplit("/", 1)[-1] if depth else r["id"])
        cells.append([name, r["owner"], _period_text(r["period"]), num(r["target"], money),
                      num(r["actual"], money), pct(r["attainment"]),
                      pct(r["expected_attainment"]), num(r["projection"], money),
                      num(r["projection_run_rate"], money), r["status"]])
    # as tables that each fit the terminal, each repeating the goal: no id or figure is cut or
    # folded into pieces
    figures = ["target", "actual", "attain.", "pace", "projection", "run-rate"]
    for table in fitted_tables(f"Goal progress as of {day} (tenant {tenant})", ["goal"],
                               ["owner", "period", *figures, "status"], cells, right=figures):
        console.print(table)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    console.print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) +
                  f"   (status: score = attainment ÷ pace; on_track ≥ {th.on_track}, "
                  f"at_risk ≥ {th.at_risk}, else off_track — see `goals config`)",
                  highlight=False)


@goals_app.command("check")
def check(
    as_of: AsOfOpt = None,
    notify: Annotated[bool, typer.Option(help="Send goal.at_risk / goal.off_track "
                                         "notifications for transitions.")] = True,
    tenant: TenantOpt = DEFAULT_TENANT,
    fmt: FormatOpt = Format.table,
) -> None:
    """Evaluate every goal, record status changes and notify transitions (run it daily)."""
    day = _as_of(as_of)
    with errors():
        transitions = _service(tenant).check(day, notify=notify)
    if fmt is Format.json:
        typer.echo(output.dumps(transitions))
        return
    if not transitions:
        typer.echo(f"no status changed as of {day}")
    for t in transitions:
        typer.echo(f"{t['id']}: {t['previous_status'] or '–'} → {t['status']} "
                   f"(attainment {output.plain(t['attainment'])}, "
                   f"pace {output.plain(t['expected_attainment'])})")


# -- config / types -------------------------------------------------------------------------------


@goals_app.command("config")
def config(
    key: Annotated[str | None, typer.Argument(help="Setting to show or set.")] = None,
    value: Annotated[str | None, typer.Argument(help="New value.")] = None,
    unset: Annotated[bool, typer.Option("--unset", help="Back to the environment/default.")] = False,
    tenant: TenantOpt = DEFAULT_TENANT,
    fmt: FormatOpt = Format.table,
) -> None:
    """Show or change the plugin's settings for a tenant."""
    with errors():
        svc = _service(tenant)
        if key is not None and key not in KEYS:
            raise UserError(f"unknown setting {key!r}; settings: {', '.join(KEYS)}")
        if key is not None and (value is not None or unset):
            if value is not None:
                validate_setting(key, value)
            svc.repo.set_config(tenant, key, None if unset else value)
        settings = load_settings(svc.repo.config(tenant))
    data = settings.as_dict()
    if key is not None:
        data = {key: data[key]}
    if fmt is Format.json:
        typer.echo(output.dumps({k: {"value": v, "source": settings.sources[k],
                                     "description": KEYS[k][2]} for k, v in data.items()}))
        return
    table = Table(title=f"Goals settings (tenant {tenant})")
    for c in ("setting", "value", "source", "meaning"):
        table.add_column(c, overflow="fold")
    for k, v in data.items():
        shown = ", ".join(v) if isinstance(v, list) else str(v)
        table.add_row(k, shown or "–", settings.sources[k], KEYS[k][2])
    console.print(table)


@goals_app.command("types")
def types(tenant: TenantOpt = DEFAULT_TENANT, fmt: FormatOpt = Format.table) -> None:
    """Registered goal types (attain_register_goal_types)."""
    with errors():
        svc = GoalService(engine_from(), tenant)
        rows = [{"name": t.name, "description": t.description, "attribution": t.attribution,
                 "plugin": getattr(svc.engine.plugins.owners.get(("goal_types", t.name)),
                                   "plugin", None)}
                for t in svc.goal_types().values()]
    if fmt is Format.json:
        typer.echo(output.dumps(rows))
        return
    table = Table(title="Goal types")
    for c in ("name", "attribution", "plugin", "description"):
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(r["name"], r["attribution"], str(r["plugin"]), r["description"])
    console.print(table)


def register(cli: typer.Typer) -> None:
    """Add ``goals`` to the root app (once, however often it is called)."""
    add_once(cli, goals_app)
