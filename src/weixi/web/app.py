"""The web app factory: FastAPI + Jinja2 templates + htmx + ECharts (both served locally)."""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Undefined
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from weixi import __version__
from weixi.config import Settings, get_settings
from weixi.errors import (
    ConfigError,
    ConflictError,
    NotFoundError,
    PermissionDenied,
    WeixiError,
    localized,
)
from weixi.web.deps import CSRF_COOKIE, LoginRequired, csrf_protect, render
from weixi.web.orm import import_all

HERE = Path(__file__).parent
API_PREFIX = "/api/v1"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'"
)


def _missing(value: Any) -> bool:
    # a key absent from a dict renders as Undefined: show a dash instead of raising (#16)
    return value is None or isinstance(value, Undefined)


def _fmt_num(value: Any, digits: int = 0) -> str:
    if _missing(value):
        return "–"
    try:
        return f"{float(value):,.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def _fmt_pct(value: Any, digits: int = 1) -> str:
    if _missing(value):
        return "–"
    return f"{float(value) * 100:.{digits}f}%"


def _fmt_month(value: Any) -> str:
    if isinstance(value, dt.date):
        return f"{value.year:04d}-{value.month:02d}"
    return "–" if value is None else str(value)[:7]


def _fmt_time(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return "–" if value is None else str(value)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def _error(request: Request, status: int, message: str | Exception) -> Response:
    if _is_api(request):
        return JSONResponse({"detail": str(message)}, status_code=status)
    if isinstance(message, Exception):  # a WeixiError: shown in the reader's language
        from weixi.web.deps import request_locale

        message = localized(message, request_locale(request, request.state._state.get("user")))
    return render(
        request, "error.html", {"status": status, "message": str(message)}, status_code=status
    )


def route_table(app: FastAPI) -> list[tuple[str, str]]:
    """Every ``(method, path template)`` the app serves (HEAD omitted), for docs and tests."""
    out: set[tuple[str, str]] = set()

    def add(route) -> None:
        methods = getattr(route, "methods", None) or set()
        path = getattr(route, "path", None) or getattr(route, "path_format", None)
        for m in methods:
            if m != "HEAD" and path:
                out.add((m, path))

    for route in app.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if callable(contexts):  # FastAPI >= 0.16x keeps included routers lazily
            for ctx in contexts():
                add(ctx)
        else:
            add(route)
    return sorted(out)


class BodyTooLarge(HTTPException):
    """A request body over ``WEIXI_MAX_UPLOAD_MB`` (answered 413 by the error handler)."""


class BodyLimit:
    """ASGI middleware refusing request bodies over ``limit`` bytes: on the first read when
    the Content-Length says so, else as soon as the streamed body passes the limit (before
    the form parser spools more of it to disk)."""

    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        mb = self.limit / 1024 / 1024
        detail = f"the upload is larger than {mb:g} MB (WEIXI_MAX_UPLOAD_MB); split the file"
        length = dict(scope.get("headers") or []).get(b"content-length", b"")
        seen = int(length) if length.isdigit() else 0

        async def limited():
            nonlocal seen
            if seen > self.limit:
                raise BodyTooLarge(413, detail)
            message = await receive()
            if message["type"] == "http.request" and not length:
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(413, detail)
            return message

        await self.app(scope, limited, send)


@contextlib.asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    """When a server starts the app: move what imports and set-up built (modules, templates,
    the model) out of the garbage collector's reach. A full collection holds the GIL while it
    scans every tracked object, and on a large heap that stalls every request for tenths of a
    second (measured 0.3-0.6 s in the test process); objects that live as long as the server
    need no scanning."""
    gc.collect()
    gc.freeze()
    yield


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the web app for ``settings`` (default: the process settings)."""
    settings = settings or get_settings()
    import_all()
    app = FastAPI(
        title="weixi API",
        version=__version__,
        description="JSON API of weixi (维系), tiered customer retention. "
        "Authenticate with the session cookie of the web app (plus the X-CSRF-Token header "
        "on writes) or with `Authorization: Bearer <token>` (`weixi user token`).",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # Swagger UI would load from a CDN; the intranet has none
        redoc_url=None,
        dependencies=[Depends(csrf_protect)],
        lifespan=_lifespan,
    )
    app.state.settings = settings
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters.update(num=_fmt_num, pct=_fmt_pct, month=_fmt_month, ts=_fmt_time)
    app.state.templates = templates
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes)
    secure_cookies = settings.env != "dev"
    app.state.secure_cookies = secure_cookies

    @app.middleware("http")
    async def _headers(request: Request, call_next):
        response = await call_next(request)
        new_csrf = request.scope.get("state", {}).get("new_csrf_cookie")
        if new_csrf and CSRF_COOKIE not in request.cookies:
            response.set_cookie(
                CSRF_COOKIE, new_csrf, httponly=True, samesite="lax", secure=secure_cookies
            )
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.url.path.startswith("/static"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, _exc: LoginRequired) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": "not authenticated"}, status_code=401)
        target = "/login"
        if request.method == "GET" and request.url.path not in ("/", "/login"):
            target += f"?next={request.url.path}"
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(PermissionDenied)
    async def _forbidden(request: Request, exc: PermissionDenied) -> Response:
        return _error(request, 403, exc)

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError) -> Response:
        return _error(request, 404, exc)

    @app.exception_handler(ConflictError)
    async def _conflict(request: Request, exc: ConflictError) -> Response:
        return _error(request, 409, exc)

    @app.exception_handler(ConfigError)
    async def _bad_request(request: Request, exc: ConfigError) -> Response:
        return _error(request, 400, exc)

    @app.exception_handler(WeixiError)
    async def _weixi_error(request: Request, exc: WeixiError) -> Response:
        return _error(request, 400, exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if _is_api(request):
            errors = jsonable_encoder(
                exc.errors(), custom_encoder={bytes: lambda b: b.decode("utf-8", "replace")}
            )
            return JSONResponse({"detail": errors}, status_code=422)
        return _error(request, 422, "; ".join(str(e.get("msg")) for e in exc.errors()))

    from weixi.jobs.worker import JobRunner

    app.state.jobs = JobRunner(
        db_url=settings.db_url,
        analytics_path=settings.duckdb_file,
        readers=settings.job_workers,
        store_wait_seconds=settings.job_store_wait_seconds,
    )
    # jobs of a previous process of this app died with it; without a jobs table yet,
    # `weixi db upgrade` creates it
    with contextlib.suppress(SQLAlchemyError):
        app.state.jobs.recover()

    from weixi.web.routes import ROUTERS

    for router in ROUTERS:
        app.include_router(router)
    return app
