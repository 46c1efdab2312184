"""The FastAPI application: ``/api/v1`` (:mod:`.routes`), ``/healthz``, ``/readyz``, ``/metrics``,
``/openapi.json`` and the dashboard at ``/`` (static files shipped in the package).

Every error is a JSON ``{"detail": …}`` with a 4xx status and a one-line message the client can
act on; anything unexpected is a 500 whose body says only "internal error" (the traceback goes to
the server's log, which never holds a token: tokens travel in the Authorization header, which is
not logged, and are never part of a path or a query).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from attain.core import Engine, PeriodError, Store, get_plugins
from attain.core.store import pending_migrations
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import metrics
from .ingest import BodyError
from .kafka_feed import KafkaFeed
from .responses import ExactJSONResponse
from .routes import PayloadTooLarge, Unauthorized, router
from .scope import Forbidden, NotFound
from .settings import ApiSettings
from .stream import Hub
from .tokens import TokenStore
from .views import BadRequest

log = logging.getLogger("attain.api")
STATIC = Path(__file__).parent / "static"
VERSION = "v1"


class BodyLimit:
    """Refuses a request whose declared body is over ``limit`` bytes (413) before it is read."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = dict(scope.get("headers") or ()).get(b"content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
                response = ExactJSONResponse({"detail": f"the body is over {self.limit} bytes"}, 413)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class HttpMetrics:
    """Counts and times every HTTP request by its route's template (never the raw path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                route = _route(scope)
                metrics.HTTP_REQUESTS.labels(route, scope["method"], str(status["code"])).inc()
                metrics.HTTP_SECONDS.labels(route, scope["method"]).observe(time.perf_counter() - started)
            await send(message)

        await self.app(scope, receive, send_status)


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


def _error(status: int, detail: Any, headers: dict[str, str] | None = None) -> ExactJSONResponse:
    return ExactJSONResponse({"detail": detail}, status, headers=headers)


def _handlers(app: FastAPI) -> None:
    from attain.plugins.incentives import IncentivesError

    @app.exception_handler(Unauthorized)
    async def unauthorized(_: Request, exc: Unauthorized) -> Response:
        return _error(401, str(exc), {"WWW-Authenticate": "Bearer"})

    #: the errors whose message is the answer, and their status
    statuses: tuple[tuple[type[Exception], int], ...] = (
        (Forbidden, 403), (NotFound, 404), (PayloadTooLarge, 413), (BodyError, 400),
        (BadRequest, 422), (PeriodError, 422), (IncentivesError, 409))

    def answer_with(status: int) -> Any:
        async def handler(_: Request, exc: Exception) -> Response:
            return _error(status, str(exc))

        return handler

    for exc_type, status in statuses:
        app.add_exception_handler(exc_type, answer_with(status))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> Response:
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()]
        return _error(422, "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        return _error(exc.status_code, exc.detail, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> Response:
        log.error("internal error answering %s %s: %s: %s", request.method, _route(request.scope),
                  type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
        return _error(500, "internal error")


def readiness(engine: Engine) -> tuple[bool, dict[str, Any]]:
    """Whether the database answers and every migration set (the core's, each plugin's) is at
    its newest revision."""
    try:
        behind = pending_migrations(engine.store.engine, engine.plugins.migrations.values())
    except Exception as exc:  # the database cannot be reached
        return False, {"status": "unavailable", "database": f"unreachable ({type(exc).__name__})"}
    if behind:
        return False, {"status": "unavailable", "database": "ok",
                       "migrations": f"behind: {', '.join(behind)} (run attain db upgrade)"}
    return True, {"status": "ready", "database": "ok", "migrations": "current"}


def create_app(engine: Engine, settings: ApiSettings | None = None) -> FastAPI:
    """The API over ``engine``'s store (the tokens are in the same database)."""
    settings = settings or ApiSettings.from_env()
    # no /docs or /redoc: FastAPI's pages load their scripts from a CDN; /openapi.json is the document
    app = FastAPI(title="Attain API", version=VERSION, default_response_class=ExactJSONResponse,
                  docs_url=None, redoc_url=None,
                  description="Live sales KPIs, goals and commissions. Every route under /api/v1 "
                              "needs `Authorization: Bearer <token>` (`attain tokens create`); "
                              "the tenant is the token's.")
    app.state.engine = engine
    app.state.tokens = TokenStore(engine.store.engine)
    app.state.settings = settings
    app.state.hub = Hub()
    app.state.feed = KafkaFeed(app.state.hub, settings.kafka_bootstrap, settings.kpi_topic) \
        if settings.kpi_updates else None
    collector = metrics.StoreCollector(engine, app.state.tokens.tenants)
    _handlers(app)
    app.include_router(router)

    @app.get("/healthz", summary="The process answers")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="The database answers and its migrations are current")
    def readyz() -> Response:
        ok, body = readiness(engine)
        return ExactJSONResponse(body, 200 if ok else 503)

    @app.get("/metrics", summary="Prometheus metrics (docs/metrics.md)", include_in_schema=False)
    def prometheus() -> Response:
        return Response(metrics.exposition(collector), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/", include_in_schema=False)
    def dashboard() -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodyLimit, limit=settings.max_body)  # type: ignore[arg-type]
    app.add_middleware(HttpMetrics)  # type: ignore[arg-type]
    return app


def app_from_env() -> FastAPI:
    """The application of ``$ATTAIN_DATABASE_URL`` (uvicorn's factory with several workers)."""
    return create_app(Engine(Store(None, run_migrations=False), get_plugins()))
