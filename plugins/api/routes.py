"""The ``/api/v1`` routes. Each resolves the caller's :class:`~.scope.Scope` from its token
(:func:`principal`) and calls one read or write of :mod:`.views` / :mod:`.ingest`."""

from __future__ import annotations

import time
from collections import Counter
from decimal import Decimal
from typing import Annotated, Any

from attain.core import Engine
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from . import goal_feed, ingest, metrics, stream, views
from .responses import exact
from .scope import READERS, Forbidden, Scope, scope_of
from .settings import ApiSettings
from .tokens import Principal, TokenStore

bearer = HTTPBearer(auto_error=False, description="An API token: `attain tokens create`.")


#: seconds a new subscriber waits for the attain.kpi-updates feed to be positioned
FEED_READY_TIMEOUT = 10.0


class Unauthorized(Exception):
    """No token, or not a valid one (HTTP 401)."""


class PayloadTooLarge(Exception):
    """The body or the number of events is over the limit (HTTP 413)."""


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def principal(request: Request,
              credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("an API token is needed: Authorization: Bearer <token>")
    tokens: TokenStore = request.app.state.tokens
    found = tokens.verify(credentials.credentials)
    if found is None:
        raise Unauthorized("the token is not valid (unknown, revoked or expired)")
    return found


def reader(request: Request, who: Annotated[Principal, Depends(principal)]) -> Scope:
    """The scope of a token that may read (admin, manager, rep)."""
    scope = scope_of(engine_of(request), who)
    scope.require(*READERS)
    return scope


def anyone(request: Request, who: Annotated[Principal, Depends(principal)]) -> Scope:
    return scope_of(engine_of(request), who)


Reader = Annotated[Scope, Depends(reader)]
Anyone = Annotated[Scope, Depends(anyone)]
router = APIRouter(prefix="/api/v1")


@router.get("/whoami", summary="The token's tenant, role and the reps it sees")
def whoami(scope: Anyone) -> Response:
    return exact({**scope.principal.as_dict(),
                  "reps": None if scope.reps is None else sorted(scope.reps)})


@router.get("/kpis", summary="KPI rows of a grouping (the rows of `attain kpi --format json`)")
def kpis(request: Request, scope: Reader,
         by: Annotated[str, Query(description="all, rep, manager, region, product, series, "
                                  "sector, account, or a time grouping (year, quarter, month, "
                                  "week, day); several comma-separated (rep,quarter: each "
                                  "row's key is the list of its groups), at most one of them "
                                  "a time grouping")] = "rep",
         period: Annotated[str | None, Query(description="Only deals closed (and leads and "
                                             "activities that occurred) in this period, e.g. "
                                             "2017-Q2 or 2017-03")] = None) -> Response:
    return exact(views.kpis(engine_of(request), scope, by, period))


@router.get("/trend", summary="The company KPIs of each month with closed deals (at most 24)")
def trend(request: Request, scope: Reader,
          last: Annotated[int, Query(ge=1, le=120, description="At most this many months")] = 24) -> Response:
    return exact(views.trend(engine_of(request), scope, last))


@router.get("/funnel", summary="Open deals per CRM stage, with the bottleneck stage")
def funnel(request: Request, scope: Reader) -> Response:
    return exact(views.funnel(engine_of(request), scope))


@router.get("/reps", summary="The team roster the token sees")
def reps(request: Request, scope: Reader) -> Response:
    return exact(views.reps(engine_of(request), scope))


@router.get("/goals/progress", summary="Goal attainment, pace, projection and status")
def goals_progress(request: Request, scope: Reader,
                   as_of: Annotated[str | None, Query(description="YYYY-MM-DD (default: today)")] = None
                   ) -> Response:
    return exact(views.goals_progress(engine_of(request), scope, as_of))


@router.get("/commission/statements", summary="Stored commission statements (of a period)")
def statements(request: Request, scope: Reader,
               period: Annotated[str | None, Query(description="2017-Q1 or 2017-03")] = None
               ) -> Response:
    return exact(views.statements(engine_of(request), scope, period))


@router.get("/commission/statements/{rep}/{period}", summary="One rep's statement")
def statement(request: Request, scope: Reader, rep: str, period: str) -> Response:
    return exact(views.statement(engine_of(request), scope, rep, period))


@router.get("/commission/statements/{rep}/{period}/explain",
            summary="Every deal and rule of a statement; the lines sum to the total")
def explain(request: Request, scope: Reader, rep: str, period: str) -> Response:
    return exact(views.explain(engine_of(request), scope, rep, period))


@router.post("/commission/statements/{rep}/{period}/approve", summary="Approve (admin, the rep's manager)")
def approve(request: Request, scope: Reader, rep: str, period: str) -> Response:
    return exact(views.approve(engine_of(request), scope, rep, period))


@router.post("/commission/statements/{rep}/{period}/signoff", summary="Sign off (the rep, admin)")
def signoff(request: Request, scope: Reader, rep: str, period: str) -> Response:
    return exact(views.signoff(engine_of(request), scope, rep, period))


class InquiryIn(BaseModel):
    """A rep's dispute of a statement (``attain commission inquiry open``)."""

    text: str = Field(min_length=1, max_length=4000, description="What is disputed.")
    line: int | None = Field(None, ge=1, description="The statement line disputed (1 = the first), "
                             "or none: the statement as a whole.")


class ResolutionIn(BaseModel):
    """The answer to an inquiry: a reply, an adjustment, or both."""

    reply: str | None = Field(None, min_length=1, max_length=4000, description="The answer to the rep.")
    adjustment: str | None = Field(None, pattern=r"^-?[0-9]{1,12}(\.[0-9]{1,2})?$",
                                   description="A signed amount in cents, as a string (exact), "
                                   "e.g. \"-120.50\": booked as an adjustment.")


@router.get("/commission/statements/{rep}/{period}/inquiries", summary="The inquiries of one statement")
def statement_inquiries(request: Request, scope: Reader, rep: str, period: str) -> Response:
    return exact(views.statement_inquiries(engine_of(request), scope, rep, period))


@router.post("/commission/statements/{rep}/{period}/inquiries", status_code=201,
             summary="Dispute a stored statement or one of its lines (the rep, their manager, admin)")
def open_inquiry(request: Request, scope: Reader, rep: str, period: str, body: InquiryIn) -> Response:
    return exact(views.open_inquiry(engine_of(request), scope, rep, period, body.text, body.line), 201)


@router.get("/commission/inquiries", summary="Inquiries of the reps the token sees")
def inquiries(request: Request, scope: Reader,
              status: Annotated[str | None, Query(description="open, answered or adjusted")] = None,
              rep: Annotated[str | None, Query(description="Only this rep's")] = None) -> Response:
    return exact(views.inquiries(engine_of(request), scope, status, rep))


@router.post("/commission/inquiries/{inquiry_id}/resolve",
             summary="Answer an inquiry with a reply and/or an adjustment (admin, the rep's manager)")
def resolve_inquiry(request: Request, scope: Reader, body: ResolutionIn,
                    inquiry_id: Annotated[int, Path(ge=1, le=2**63 - 1)]) -> Response:
    amount = None if body.adjustment is None else Decimal(body.adjustment)
    if body.reply is None and amount is None:
        raise views.BadRequest("resolve with a reply, an adjustment, or both")
    return exact(views.resolve_inquiry(engine_of(request), scope, inquiry_id, body.reply, amount))


@router.get("/maturity", summary="The tenant's maturity assessment (admin; `attain maturity assess`)")
def maturity(request: Request, scope: Reader,
             as_of: Annotated[str | None, Query(description="YYYY-MM-DD (default: the day of the "
                                                "tenant's newest event)")] = None,
             model: Annotated[str | None, Query(description="A registered maturity model "
                                                "(default: the tenant's)")] = None) -> Response:
    return exact(views.maturity(engine_of(request), scope, as_of, model))


@router.get("/deadletters", summary="Rejected inputs with their reasons (admin)")
def deadletters(request: Request, scope: Reader,
                limit: Annotated[int, Query(ge=0, le=100000, description="At most this many (0 = all)")] = 0
                ) -> Response:
    return exact(views.deadletters(engine_of(request), scope, limit))


@router.get("/plugins", summary="Installed plugins and whether they are enabled (admin)")
def plugins(request: Request, scope: Reader) -> Response:
    return exact(views.plugins(engine_of(request), scope))


async def _body(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _process(engine: Engine, tenant: str, recs: list[Any]
             ) -> tuple[Any, list[dict[str, Any]], list[dict[str, Any]]]:
    """The request's batch (on a worker thread): its result, the changed rep rows and the goal
    status changes it caused."""
    plugins = engine.plugins
    metrics.see_tenant(tenant, metrics.plugin_hooks(plugins))
    before = Counter(plugins.errors)
    started = time.perf_counter()
    with goal_feed.collecting(tenant) as goals:
        result = ingest.process(engine, tenant, recs)
    errors = Counter(plugins.errors)
    errors.subtract(before)
    metrics.count_batch(tenant, result, dict(errors), time.perf_counter() - started)
    # the changed roll-ups' keys are (dim, name, grain, period): the reps are the rep dim's names
    owners = {key[1] for t, key in result.changed_cells if t == tenant and key[0] == "rep"}
    rows = [r for r in views.kpis(engine, _admin(tenant), "rep") if r["key"] in owners] if owners else []
    return result, rows, goals


def _admin(tenant: str) -> Scope:
    return Scope(Principal("internal", tenant, "admin"), None)


@router.post("/events", summary="Publish events: a JSON array or NDJSON (admin, service)",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                 "application/x-ndjson": {"schema": {"type": "string"}}}}})
async def post_events(request: Request, who: Annotated[Principal, Depends(principal)]) -> Response:
    engine = engine_of(request)
    settings: ApiSettings = request.app.state.settings
    if who.role not in ("admin", "service"):
        raise Forbidden(f"a {who.role} token may not publish events (needs admin or service)")
    body = await _body(request, settings.max_body)
    try:
        recs = ingest.records(body, settings.max_events)
    except ingest.TooManyEvents as exc:
        raise PayloadTooLarge(str(exc)) from None
    result, rows, goals = await run_in_threadpool(_process, engine, who.tenant, recs)
    hub: stream.Hub = request.app.state.hub
    if rows:
        hub.publish(who.tenant, rows)
    if goals:
        hub.publish_goals(who.tenant, goals)
    return exact(ingest.summary(result))


@router.get("/stream", summary="Server-sent events: changed KPI rows and goal status changes of the "
            "token's tenant",
            response_class=StreamingResponse)
async def kpi_stream(request: Request, scope: Reader) -> StreamingResponse:
    hub: stream.Hub = request.app.state.hub
    settings: ApiSettings = request.app.state.settings
    feed = request.app.state.feed
    ready: dict[str, Any] = {}
    if feed is not None:  # ATTAIN_API_KPI_UPDATES: the workers' rows too, once the feed is at the topic's end
        feed.ensure()
        ready["kpi_updates"] = await feed.wait_ready(FEED_READY_TIMEOUT)
    sub = hub.subscribe(scope)
    return StreamingResponse(stream.events(hub, sub, settings.heartbeat, ready), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
