"""Login, logout, language switch and the root redirect."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from weixi.auth import service as auth_service
from weixi.auth.models import User
from weixi.errors import PermissionDenied, localized
from weixi.i18n import normalize_locale
from weixi.web.deps import (
    LANG_COOKIE,
    SESSION_COOKIE,
    CurrentUser,
    DbDep,
    optional_user,
    render,
    request_locale,
    session_token,
    sign_session,
)

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths (no open redirect)."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/")
def home(user: CurrentUser) -> RedirectResponse:
    return RedirectResponse("/dashboard", status_code=303)


@router.get("/login")
def login_form(
    request: Request, user: Annotated[User | None, Depends(optional_user)], next: str = "/"
) -> Response:
    if user is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "login.html", {"next": _safe_next(next), "error": None})


@router.post("/login")
def login(
    request: Request,
    db: DbDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    try:
        user = auth_service.authenticate(
            session=db, username=username, password=password, ip=_client_ip(request)
        )
    except PermissionDenied as exc:
        db.commit()  # keep the failure count and the audit lines
        return render(
            request,
            "login.html",
            {
                "next": _safe_next(next),
                "error": localized(exc, request_locale(request, None)),
                "username": username,
            },
            status_code=401,
        )
    token = auth_service.start_session(
        session=db, user=user, ip=_client_ip(request), user_agent=request.headers.get("user-agent")
    )
    db.commit()
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        sign_session(request.app.state.settings, token),
        httponly=True,
        samesite="lax",
        secure=request.app.state.secure_cookies,
        max_age=int(auth_service.SESSION_TTL.total_seconds()),
    )
    return response


@router.post("/logout")
def logout(request: Request, db: DbDep) -> Response:
    token = session_token(request)
    if token:
        user = auth_service.get_session_user(session=db, token=token)
        auth_service.end_session(session=db, token=token)
        if user is not None:
            from weixi.security import audit

            audit.record(session=db, action="logout", user=user, ip=_client_ip(request))
        db.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/lang")
def switch_language(
    request: Request,
    db: DbDep,
    user: Annotated[User | None, Depends(optional_user)],
    lang: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    locale = normalize_locale(lang)
    if user is not None:
        auth_service.set_locale(session=db, user=user, locale=locale)
        db.commit()
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(LANG_COOKIE, locale, samesite="lax", max_age=365 * 86400)
    return response
