"""The API's reads, each for one :class:`~.scope.Scope` (a tenant and the reps it may see).

Every function reads through the engine's or a plugin's public, tenant-scoped reads with the
scope's tenant: nothing here takes a tenant from the request. Restricted scopes (a manager's
team, a rep) are computed over their reps' own deals and facts (``Engine.kpis_where``), so a
rep's figures never include a peer's events, whatever the grouping.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from typing import Any

from attain.core import Engine, Period, get_plugins, parse_period, utc_day
from attain.core.rollups import GroupingError, parse_groupings

from .scope import Forbidden, NotFound, Scope

#: the first columns of a KPI row, in the order of ``attain kpi`` (then the plugins' KPIs)
KPI_COLUMNS = ["won_revenue", "won_deals", "lost_deals", "open_deals", "win_rate",
               "avg_deal_size", "avg_cycle_days", "pipeline_value"]


class BadRequest(ValueError):
    """A query parameter the client can fix (HTTP 422 with the message)."""


def kpi_columns(engine: Engine, tenant: str) -> list[str]:
    """Every KPI column: the metrics, then the period metrics (company figures)."""
    names = [m.name for m in engine.metrics(tenant)] + [m.name for m in engine.period_metrics(tenant)]
    return [c for c in KPI_COLUMNS if c in names] + [n for n in names if n not in KPI_COLUMNS]


def _owner_of(event: Any) -> str | None:
    return getattr(event, "owner", None)


def _in_period(period: Period) -> Callable[[Any], bool]:
    def where(event: Any) -> bool:
        if event.type == "deal":
            return period.contains(event.closed_on)
        return period.contains(utc_day(event.occurred_at))
    return where


def parse_period_param(text: str | None) -> Period | None:
    if text is None or text == "":
        return None
    try:
        return parse_period(text)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def kpis(engine: Engine, scope: Scope, by: str, period: str | None = None) -> list[dict[str, Any]]:
    """KPI rows of a grouping, or of several (``rep,quarter``: each row's ``key`` the list of its
    groups, in that order): the rows of ``attain kpi --by BY --format json`` for an admin without
    a period; over the deals closed (and facts that occurred) in ``period`` when given; over the
    scope's reps' deals and facts for a manager or a rep. The period metrics (company figures
    from state across events) have values in the admin's ``all`` and time groupings without a
    period, ``null`` elsewhere."""
    try:
        groups = parse_groupings(by)
    except GroupingError as exc:
        raise BadRequest(str(exc)) from None
    tenant = scope.tenant
    p = parse_period_param(period)
    if scope.reps is None and p is None:
        rows = engine.kpis(tenant, groups, period_metrics=True)
    else:
        checks: list[Callable[[Any], bool]] = []
        if p is not None:
            checks.append(_in_period(p))
        if scope.reps is not None:
            reps = scope.reps
            checks.append(lambda e: _owner_of(e) in reps)
        rows = engine.kpis_where(tenant, ",".join(groups), lambda e: all(c(e) for c in checks))
        if "rep" in groups and scope.reps is not None:  # only the scope's reps' groups
            i, reps = groups.index("rep"), scope.reps
            rows = [r for r in rows if _group(r["key"], i, len(groups)) in reps]
    columns = kpi_columns(engine, tenant)
    return [{"key": r["key"], **{c: r.get(c) for c in columns}} for r in rows]


def _group(key: Any, i: int, n: int) -> Any:
    """Group ``i`` of a row's key (the key itself for a single grouping, else its list)."""
    return key if n == 1 else key[i]


def trend(engine: Engine, scope: Scope, last: int = 24) -> list[dict[str, Any]]:
    """The company row (``by=all``) of every month from the first to the last in which a deal
    the scope sees closed (at most the ``last`` months up to the newest; a month without a closed
    deal has zeros): ``{"month": "2017-03", <KPI columns>}``."""
    closed = [d.closed_on for d in engine.deals(scope.tenant)
              if d.closed_on is not None and scope.sees(d.owner)]
    if not closed:
        return []
    first, newest = Period.of(min(closed), "month"), Period.of(max(closed), "month")
    months = [first]
    while months[-1] != newest:
        months.append(months[-1].next())
    out = []
    for month in months[-last:]:
        rows = kpis(engine, scope, "all", month.key)
        values = {k: v for k, v in rows[0].items() if k != "key"} if rows else {
            c: 0 for c in kpi_columns(engine, scope.tenant)}
        out.append({"month": month.key, **values})
    return out


def funnel(engine: Engine, scope: Scope) -> list[dict[str, Any]]:
    """Open deals per CRM stage (and their value), in the order of the stages' first
    appearance; ``bottleneck`` marks the stage holding the most open deals."""
    stages: dict[str, dict[str, Any]] = {}
    for d in engine.deals(scope.tenant):
        if d.status != "open" or not scope.sees(d.owner):
            continue
        row = stages.setdefault(d.stage, {"stage": d.stage, "open_deals": 0, "value": 0})
        row["open_deals"] += 1
        if d.amount is not None:
            row["value"] += d.amount
    rows = list(stages.values())
    top = max((r["open_deals"] for r in rows), default=0)
    for r in rows:
        r["bottleneck"] = top > 0 and r["open_deals"] == top
    return rows


def _goals_service(engine: Engine, tenant: str) -> Any:
    from attain.plugins.goals import GoalService

    return GoalService(engine, tenant)


def goals_progress(engine: Engine, scope: Scope, as_of: str | None = None) -> list[dict[str, Any]]:
    """``attain goals progress --format json`` rows of the goals whose owner the scope sees."""
    if "goals" not in get_plugins().names() or "goals" in engine.disabled(scope.tenant):
        raise NotFound("the goals plugin is not enabled for this tenant")
    try:
        day = dt.date.today() if as_of in (None, "", "today") else dt.date.fromisoformat(str(as_of))
    except ValueError:
        raise BadRequest(f"as_of {as_of!r} is not a date (YYYY-MM-DD)") from None
    rows = _goals_service(engine, scope.tenant).progress(day)
    return [r for r in rows if scope.sees_owner(str(r["owner"]))]


def _incentives(engine: Engine, tenant: str) -> Any:
    if "incentives" not in get_plugins().names() or "incentives" in engine.disabled(tenant):
        raise NotFound("the incentives plugin is not enabled for this tenant")
    from attain.plugins.incentives import Incentives

    return Incentives(engine, tenant)


def _period(text: str) -> Period:
    try:
        return Period.parse(text)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def statements(engine: Engine, scope: Scope, period: str | None) -> list[dict[str, Any]]:
    svc = _incentives(engine, scope.tenant)
    rows = svc.statements(_period(period) if period else None, None)
    return [r for r in rows if scope.sees(r["rep"])]


def _own(scope: Scope, rep: str, engine: Engine | None = None) -> None:
    """A rep the scope may see and the tenant knows (its roster or a stored statement); anything
    else is 404, a peer's statement included: as if it did not exist."""
    if not scope.sees(rep):
        raise NotFound(f"no statement of {rep!r} for this token")
    if engine is not None and rep not in engine.dimensions(scope.tenant).reps \
            and not _incentives(engine, scope.tenant).statements(None, rep):
        raise NotFound(f"no rep {rep!r} in this tenant")


def statement(engine: Engine, scope: Scope, rep: str, period: str) -> dict[str, Any]:
    _own(scope, rep, engine)
    result: dict[str, Any] = _incentives(engine, scope.tenant).statement(rep, _period(period))
    return result


def explain(engine: Engine, scope: Scope, rep: str, period: str) -> dict[str, Any]:
    _own(scope, rep, engine)
    result: dict[str, Any] = _incentives(engine, scope.tenant).explain(rep, _period(period))
    return result


def approve(engine: Engine, scope: Scope, rep: str, period: str) -> dict[str, Any]:
    """A manager (of the rep's team) or an admin approves; recorded with the token's id."""
    scope.require("admin", "manager")
    _own(scope, rep)
    by = scope.principal.manager or f"token:{scope.principal.token_id}"
    result: dict[str, Any] = _incentives(engine, scope.tenant).approve(rep, _period(period), by)
    return result


def signoff(engine: Engine, scope: Scope, rep: str, period: str) -> dict[str, Any]:
    """The rep signs off their own approved statement (or an admin on their behalf)."""
    scope.require("admin", "rep")
    _own(scope, rep)
    by = scope.principal.rep or f"token:{scope.principal.token_id}"
    result: dict[str, Any] = _incentives(engine, scope.tenant).signoff(rep, _period(period), by)
    return result


def _by(scope: Scope) -> str:
    """Who the token acts as in the incentives plugin's records."""
    p = scope.principal
    return p.rep or p.manager or f"token:{p.token_id}"


def _stored(engine: Engine, scope: Scope, rep: str, period: str) -> Period:
    """The period of a stored statement of ``rep`` the scope sees (404 otherwise)."""
    _own(scope, rep, engine)
    p = _period(period)
    if not _incentives(engine, scope.tenant).statements(p, rep):
        raise NotFound(f"no stored statement of {rep!r} for {p.key}")
    return p


def open_inquiry(engine: Engine, scope: Scope, rep: str, period: str, text: str,
                 line: int | None) -> dict[str, Any]:
    """A dispute of a stored statement (or of one of its lines), raised by whoever may read the
    statement: the rep, their manager, an admin (``raised_by``: the rep's or manager's name, or
    ``token:<id>``); ``attain commission inquiry open``."""
    p = _stored(engine, scope, rep, period)
    result: dict[str, Any] = _incentives(engine, scope.tenant).open_inquiry(rep, p, line, text, _by(scope))
    return result


def statement_inquiries(engine: Engine, scope: Scope, rep: str, period: str) -> list[dict[str, Any]]:
    """The inquiries of one statement (of every revision), oldest first."""
    _own(scope, rep, engine)
    key = _period(period).key
    return [r for r in _incentives(engine, scope.tenant).inquiries(None, rep) if r["period"] == key]


def inquiries(engine: Engine, scope: Scope, status: str | None, rep: str | None) -> list[dict[str, Any]]:
    """``attain commission inquiry list --format json``: the inquiries of the reps the scope sees."""
    if status not in (None, "", "open", "answered", "adjusted"):
        raise BadRequest(f"unknown status {status!r}; choose open, answered or adjusted")
    rows = _incentives(engine, scope.tenant).inquiries(status or None, rep or None)
    return [r for r in rows if scope.sees(r["rep"])]


def resolve_inquiry(engine: Engine, scope: Scope, inquiry_id: int, reply: str | None,
                    adjustment: Any) -> dict[str, Any]:
    """An admin or the rep's manager answers an inquiry, with a reply and/or an adjustment
    (``attain commission inquiry resolve``); another rep's or tenant's inquiry is 404."""
    scope.require("admin", "manager")
    svc = _incentives(engine, scope.tenant)
    from attain.plugins.incentives import IncentivesError

    try:
        inq = svc.inquiry(inquiry_id)
    except IncentivesError:
        raise NotFound(f"no inquiry {inquiry_id} for this token") from None
    if not scope.sees(inq["rep"]):
        raise NotFound(f"no inquiry {inquiry_id} for this token")
    result: dict[str, Any] = svc.resolve_inquiry(inquiry_id, _by(scope), reply, adjustment)
    return result


def maturity(engine: Engine, scope: Scope, as_of: str | None, model: str | None) -> dict[str, Any]:
    """The tenant's maturity assessment, the JSON of ``attain maturity assess --no-save --format
    json`` (a read: nothing is stored). Company-wide figures: admins only."""
    scope.require("admin")
    if "maturity" not in get_plugins().names() or "maturity" in engine.disabled(scope.tenant):
        raise NotFound("the maturity plugin is not enabled for this tenant")
    from attain.plugins.maturity import Maturity, MaturityError

    try:
        day = None if as_of in (None, "") else dt.date.fromisoformat(str(as_of))
    except ValueError:
        raise BadRequest(f"as_of {as_of!r} is not a date (YYYY-MM-DD)") from None
    try:
        result: dict[str, Any] = Maturity(engine, scope.tenant, model or None).assess(day, save=False)
    except MaturityError as exc:
        raise BadRequest(str(exc)) from None
    return result


def deadletters(engine: Engine, scope: Scope, limit: int | None) -> list[dict[str, Any]]:
    """The rows of ``attain deadletter list --format json`` (admins only: a dead letter may
    carry any rep's data)."""
    scope.require("admin")
    return [{"id": r.id, "source": r.source, "line": r.line, "reason": r.reason,
             "payload": r.payload, "created_at": r.created_at,
             "payload_base64": None if r.raw is None else base64.b64encode(r.raw).decode("ascii")}
            for r in engine.store.deadletters(scope.tenant, limit or None)]


def plugins(engine: Engine, scope: Scope) -> list[dict[str, Any]]:
    """The rows of ``attain plugins list --format json`` (admins only)."""
    scope.require("admin")
    disabled = engine.store.disabled_plugins(scope.tenant)
    return [{**p, "enabled": p["name"] not in disabled} for p in get_plugins().info()]


def reps(engine: Engine, scope: Scope) -> list[dict[str, Any]]:
    """The roster the scope sees: name, manager (team), region."""
    return [{"name": r.name, "manager": r.manager, "region": r.region}
            for r in sorted(engine.dimensions(scope.tenant).reps.values(), key=lambda r: r.name)
            if scope.sees(r.name)]


__all__ = ["BadRequest", "Forbidden", "NotFound", "approve", "deadletters", "explain", "funnel", "goals_progress",
           "inquiries", "kpis", "maturity", "open_inquiry", "plugins", "reps", "resolve_inquiry", "signoff",
           "statement", "statement_inquiries", "statements", "trend"]
