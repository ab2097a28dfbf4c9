"""Request dependencies: database session, current user, roles, CSRF, locale, rendering.

Routes resolve these through ``Annotated`` aliases (``DbDep``, ``CurrentUser``, ``AnalyticsDep``)
and ``require_role(...)``; they never parse cookies or open stores themselves.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import duckdb
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy.orm import Session

from weixi.auth import service as auth_service
from weixi.auth.models import Role, User
from weixi.config import Settings
from weixi.errors import PermissionDenied
from weixi.i18n import normalize_locale, t
from weixi.store import snapshots
from weixi.store.db import session_factory
from weixi.web import readmodels
from weixi.web.labels import label

SESSION_COOKIE = "weixi_session"
CSRF_COOKIE = "weixi_csrf"
LANG_COOKIE = "weixi_lang"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
#: The largest id or offset the operational database stores (PostgreSQL ``integer``): the API
#: refuses or clamps larger numbers instead of letting the driver overflow (a 500).
MAX_INT = 2_147_483_647


class LoginRequired(Exception):
    """No valid session: pages redirect to the login form, the API answers 401."""


def wants_fragment(request: Request) -> bool:
    """True when htmx asks for a part of a page (a table's next page, a tab), which it swaps
    in place; False for a normal load and for htmx restoring a pushed URL from history after
    its cache missed (``HX-History-Restore-Request``), which replaces the whole page."""
    return bool(request.headers.get("hx-request")) and not request.headers.get(
        "hx-history-restore-request"
    )


def get_settings_dep(request: Request) -> Settings:
    """The settings the app was created with."""
    return request.app.state.settings


def get_db(request: Request) -> Iterator[Session]:
    """One SQLAlchemy session per request; routes commit, errors roll back."""
    session = session_factory(request.app.state.settings.db_url)()
    try:
        yield session
    finally:
        # close() rolls back what was not committed and detaches objects without expiring
        # them, so error pages can still show the user (rollback() would expire them).
        session.close()


DbDep = Annotated[Session, Depends(get_db)]


def get_analytics(request: Request) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """A read-only cursor on the current published snapshot of the analytics store for this
    request; None only when no store exists yet.

    Never the writer's file: a running job cannot lock it and a half-written state is never
    visible (a writer that fails publishes nothing, so pages keep the last complete state). A
    store that has never been published (built before snapshots existed) is published once, by
    the first request that finds it.
    """
    path = request.app.state.settings.duckdb_file
    if not path.exists():
        yield None
        return
    if snapshots.current(path) is None:
        # once, before the first snapshot exists; a writer of this process publishes itself,
        # and a writer in another process (duckdb.Error here) publishes when it ends
        with contextlib.suppress(duckdb.Error):
            snapshots.publish_file(path, wait=False)
    with snapshots.reader(path) as found:
        if found is None:
            yield None
            return
        con, snap = found
        request.state.snapshot_file = snap.file  # keys weixi.web.readcache
        yield con


AnalyticsDep = Annotated[duckdb.DuckDBPyConnection | None, Depends(get_analytics)]


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.secret(), salt="weixi-session")


def sign_session(settings: Settings, token: str) -> str:
    """The cookie value carrying a session token."""
    return _serializer(settings).dumps(token)


def session_token(request: Request) -> str | None:
    """The session token from the signed cookie, or None when absent or tampered with."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        return str(_serializer(request.app.state.settings).loads(raw))
    except BadSignature:
        return None


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, if any."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


def claim_token(request: Request) -> str:
    """A digest of the caller's bearer token or login session: who holds a work-queue claim
    (each browser session or API token works its own task; the secret itself is not stored)."""
    secret = bearer_token(request) or session_token(request) or ""
    return hashlib.sha256(f"claim:{secret}".encode()).hexdigest()[:32]


ClaimTokenDep = Annotated[str, Depends(claim_token)]


def optional_user(request: Request, db: DbDep) -> User | None:
    """The logged-in user (session cookie or bearer token), or None."""
    if "user" in request.state._state:
        return request.state.user
    user = None
    token = bearer_token(request)
    if token:
        user = auth_service.get_token_user(session=db, token=token)
    else:
        stoken = session_token(request)
        if stoken:
            user = auth_service.get_session_user(session=db, token=stoken)
    # End the read so the connection goes back to the pool now: FastAPI runs each sync
    # dependency and the route in separate thread-pool calls, and a request holding a
    # connection while it waits for a thread deadlocks against requests holding threads while
    # they wait for a connection (every request then failed after the pool's 30 s timeout
    # beyond ~55 concurrent requests; docs/reliability.md, "Load test"). The route takes a
    # connection again inside its own thread. Nothing is written here; the user stays loaded
    # (expire_on_commit=False).
    db.commit()
    request.state.user = user
    return user


def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    """The logged-in user; raises LoginRequired otherwise."""
    if user is None:
        raise LoginRequired()
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_role(*roles: Role | str) -> Callable[..., User]:
    """Dependency factory: the current user, when their role is one of ``roles``; else 403."""
    allowed = frozenset(Role(r) for r in roles)

    def _check(user: CurrentUser) -> User:
        if Role(user.role) not in allowed:
            raise PermissionDenied("role {role} may not open this page", role=user.role)
        return user

    _check.allowed_roles = allowed  # type: ignore[attr-defined]
    return _check


# --- CSRF: a per-session (or per-browser before login) token, HMAC-signed with the secret ----


def _csrf_for(settings: Settings, base: str) -> str:
    return hmac.new(settings.secret().encode(), f"csrf:{base}".encode(), hashlib.sha256).hexdigest()


def csrf_base(request: Request) -> str | None:
    """The value the CSRF token is bound to: the session token, else the pre-login cookie."""
    return session_token(request) or request.cookies.get(CSRF_COOKIE)


def csrf_token(request: Request) -> str:
    """The CSRF token to embed in forms and htmx headers of this page."""
    base = csrf_base(request)
    if not base:
        base = request.state._state.get("new_csrf_cookie") or secrets.token_urlsafe(24)
        request.state.new_csrf_cookie = base  # set on the response by the middleware
    return _csrf_for(request.app.state.settings, base)


async def csrf_protect(request: Request) -> None:
    """Reject unsafe requests without a valid CSRF token (bearer-token API calls are exempt)."""
    if request.method not in UNSAFE_METHODS or bearer_token(request):
        return
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    base = csrf_base(request)
    expected = _csrf_for(request.app.state.settings, base) if base else None
    if not sent or not expected or not hmac.compare_digest(sent, expected):
        raise PermissionDenied("invalid or missing CSRF token; reload the page and try again")


# --- labels ---

ROLE_LABELS = {
    "admin": "Administrator",
    "planner": "Retention planner",
    "branch_manager": "Branch manager",
    "account_manager": "Account manager",
    "agent": "Call-center agent",
    "analyst": "Analyst",
}

_BRANCH_CACHE: dict[str, tuple[str, dict[str, dict[str, str]]]] = {}


def branch_names(request: Request) -> dict[str, dict[str, str]]:
    """branch_id -> names from the ``branches`` table of the current snapshot (cached per snapshot)."""
    path = request.app.state.settings.duckdb_file
    snap = snapshots.current(path)
    if snap is None:
        return {}
    cached = _BRANCH_CACHE.get(str(path))
    if cached and cached[0] == snap.file:
        return cached[1]
    names: dict[str, dict[str, str]] = {}
    try:
        with snapshots.open_snapshot(path) as con:
            if readmodels.has(con, "branches"):
                for bid, en, zh in con.execute(
                    "SELECT branch_id, name_en, name_zh FROM branches"
                ).fetchall():
                    names[str(bid)] = {"en": en or bid, "zh-CN": zh or en or bid}
    except duckdb.Error:
        return {}
    _BRANCH_CACHE[str(path)] = (snap.file, names)
    return names


def branch_label(request: Request, branch_id: str | None, locale: str) -> str:
    """A branch's name in ``locale`` (its id when the reference table does not know it)."""
    if not branch_id:
        return ""
    entry = branch_names(request).get(branch_id)
    return entry.get(locale, branch_id) if entry else branch_id


# --- locale and rendering -------------------------------------------------------------------


def request_locale(request: Request, user: User | None) -> str:
    """The user's language, else the language cookie, else the browser's, else the default."""
    if user is not None and user.locale:
        return normalize_locale(user.locale)
    if request.cookies.get(LANG_COOKIE):
        return normalize_locale(request.cookies[LANG_COOKIE])
    accept = request.headers.get("accept-language", "")
    if accept:
        return normalize_locale(accept.split(",")[0])
    return normalize_locale(request.app.state.settings.default_locale)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    user: User | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render ``template`` with the common context: user, locale, ``_``, CSRF token, navigation."""
    from weixi.web.nav import nav_for

    if user is None:
        user = request.state._state.get("user")
    locale = request_locale(request, user)

    def _(msg: str, **params: Any) -> str:
        return t(msg, locale, **params)

    ctx = {
        "role_labels": ROLE_LABELS,
        "branch_label": lambda b: branch_label(request, b, locale),
        "lbl": lambda key: label(key, locale),
        "request": request,
        "user": user,
        "locale": locale,
        "_": _,
        "csrf_token": csrf_token(request),
        "nav": nav_for(user) if user else [],
        "path": request.url.path,
    }
    ctx.update(context or {})
    templates = request.app.state.templates
    return templates.TemplateResponse(request, template, ctx, status_code=status_code)
