"""Accounts, login, sessions, lock-out and API tokens. Callers own the transaction."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from weixi.auth.models import BRANCH_ROLES, ApiToken, Role, User, UserSession, utcnow
from weixi.auth.passwords import hash_password, needs_rehash, verify_password
from weixi.errors import ConfigError, PermissionDenied
from weixi.i18n import normalize_locale
from weixi.security import audit

MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
SESSION_TTL = dt.timedelta(hours=12)
# A hash to verify against when the user does not exist, so timing does not reveal usernames.
_DUMMY_HASH = hash_password("not-a-real-password-1")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def get(*, session: Session, user_id: int) -> User | None:
    """Return the user with ``user_id`` or None."""
    return session.get(User, user_id)


def get_by_username(*, session: Session, username: str) -> User | None:
    """Return the user called ``username`` or None."""
    return session.scalar(select(User).where(User.username == username.strip()))


def get_all(*, session: Session) -> list[User]:
    """Return every user, by username."""
    return list(session.scalars(select(User).order_by(User.username)))


def create(
    *,
    session: Session,
    username: str,
    password: str,
    role: str,
    branch_id: str | None = None,
    staff_id: str | None = None,
    display_name: str = "",
    locale: str = "en",
    actor: User | None = None,
) -> User:
    """Create a user (argon2-hashed password); branch roles must name their branch."""
    username = username.strip()
    if (
        not username
        or len(username) > 64
        or not username.replace("_", "").replace(".", "").replace("-", "").isalnum()
    ):
        raise ConfigError("username must be 1-64 letters, digits, '.', '_' or '-'")
    try:
        role_enum = Role(role)
    except ValueError:
        raise ConfigError(
            "unknown role {role!r}; choose one of {roles}",
            role=role,
            roles=", ".join(r.value for r in Role),
        ) from None
    if role_enum in BRANCH_ROLES and not branch_id:
        raise ConfigError("role {role} works for one branch: give --branch", role=role_enum.value)
    if role_enum in (Role.admin, Role.planner) and branch_id:
        raise ConfigError(
            "role {role} is province-wide: do not give a branch", role=role_enum.value
        )
    if get_by_username(session=session, username=username):
        raise ConfigError("user {username!r} already exists", username=username)
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=role_enum.value,
        branch_id=branch_id or None,
        staff_id=staff_id or None,
        locale=normalize_locale(locale),
        is_active=True,
        failed_logins=0,
    )
    session.add(user)
    session.flush()
    audit.record(
        session=session,
        action="user_created",
        user=actor,
        username=None if actor else "system",
        object_type="user",
        object_id=username,
        detail={"role": user.role, "branch_id": user.branch_id},
    )
    return user


def is_locked(user: User, now: dt.datetime | None = None) -> bool:
    """Return True while the account is locked after too many failed logins."""
    now = now or utcnow()
    return user.locked_until is not None and user.locked_until > now


def authenticate(
    *,
    session: Session,
    username: str,
    password: str,
    ip: str | None = None,
    now: dt.datetime | None = None,
) -> User:
    """Return the user when the password is right; count failures and lock after five.

    Raises PermissionDenied with a message that does not reveal whether the user exists,
    except for the lock-out, which the user needs to know about.
    """
    now = now or utcnow()
    user = get_by_username(session=session, username=username)
    if user is None:
        verify_password(_DUMMY_HASH, password)
        audit.record(
            session=session,
            action="login_failed",
            username=username[:64],
            ip=ip,
            detail={"reason": "unknown user"},
        )
        raise PermissionDenied("wrong username or password")
    if is_locked(user, now):
        audit.record(
            session=session, action="login_failed", user=user, ip=ip, detail={"reason": "locked"}
        )
        raise PermissionDenied("account locked after repeated failed logins; try again later")
    if not verify_password(user.password_hash, password) or not user.is_active:
        user.failed_logins = (user.failed_logins or 0) + 1
        reason = "inactive" if user.is_active is False else "wrong password"
        audit.record(
            session=session,
            action="login_failed",
            user=user,
            ip=ip,
            detail={"reason": reason, "failures": user.failed_logins},
        )
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until = now + LOCKOUT
            user.failed_logins = 0
            audit.record(
                session=session,
                action="locked_out",
                user=user,
                ip=ip,
                detail={"until": user.locked_until.isoformat()},
            )
            session.flush()
            raise PermissionDenied("account locked after repeated failed logins; try again later")
        session.flush()
        raise PermissionDenied("wrong username or password")
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit.record(session=session, action="login", user=user, ip=ip)
    session.flush()
    return user


def start_session(
    *, session: Session, user: User, ip: str | None = None, user_agent: str | None = None
) -> str:
    """Create a login session and return its secret token (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            token_hash=_digest(token),
            user_id=user.id,
            created_at=utcnow(),
            expires_at=utcnow() + SESSION_TTL,
            ip=ip,
            user_agent=(user_agent or "")[:255],
        )
    )
    session.flush()
    return token


def get_session_user(*, session: Session, token: str) -> User | None:
    """Return the active user of a live session token, or None."""
    row = session.scalar(select(UserSession).where(UserSession.token_hash == _digest(token)))
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    user = row.user
    if not user.is_active or is_locked(user):
        return None
    return user


def end_session(*, session: Session, token: str) -> None:
    """Revoke a session token (logout)."""
    row = session.scalar(select(UserSession).where(UserSession.token_hash == _digest(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()


def update(
    *,
    session: Session,
    user: User,
    actor: User | None = None,
    role: str | None = None,
    branch_id: str | None = None,
    is_active: bool | None = None,
    unlock: bool = False,
) -> User:
    """Change a user's role, branch or active flag, or unlock the account (audited)."""
    changes: dict[str, object] = {}
    if role is not None and role != user.role:
        Role(role)
        changes["role"] = role
        user.role = role
    if branch_id is not None and (branch_id or None) != user.branch_id:
        changes["branch_id"] = branch_id or None
        user.branch_id = branch_id or None
    if user.role in BRANCH_ROLES and not user.branch_id:
        raise ConfigError("role {role} works for one branch: give a branch", role=user.role)
    if is_active is not None and is_active != user.is_active:
        changes["is_active"] = is_active
        user.is_active = is_active
    if unlock and (user.locked_until or user.failed_logins):
        changes["unlocked"] = True
        user.locked_until = None
        user.failed_logins = 0
    if changes:
        audit.record(
            session=session,
            action="user_updated",
            user=actor,
            username=None if actor else "system",
            object_type="user",
            object_id=user.username,
            detail=changes,
        )
    session.flush()
    return user


def set_password(*, session: Session, user: User, password: str, actor: User | None = None) -> None:
    """Replace a user's password (audited; other sessions stay valid until they expire)."""
    user.password_hash = hash_password(password)
    audit.record(
        session=session,
        action="password_changed",
        user=actor or user,
        object_type="user",
        object_id=user.username,
    )
    session.flush()


def set_locale(*, session: Session, user: User, locale: str) -> None:
    """Store the user's language (en or zh-CN)."""
    user.locale = normalize_locale(locale)
    session.flush()


def create_api_token(*, session: Session, user: User, name: str) -> str:
    """Create a bearer token acting as ``user``; return the secret (shown once)."""
    token = "wx_" + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_hash=_digest(token), user_id=user.id))
    audit.record(
        session=session,
        action="token_created",
        user=user,
        object_type="api_token",
        object_id=name,
    )
    session.flush()
    return token


def get_token_user(*, session: Session, token: str) -> User | None:
    """Return the active user behind a bearer token, or None."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if row is None or row.revoked_at is not None or not row.user.is_active:
        return None
    return row.user
