"""Password hashing with argon2id (argon2-cffi defaults, RFC 9106 low-memory profile)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from weixi.errors import ConfigError

_HASHER = PasswordHasher()
MIN_LENGTH = 8


def hash_password(password: str) -> str:
    """Return the argon2id hash of ``password`` (rejects passwords shorter than 8 characters)."""
    check_strength(password)
    return _HASHER.hash(password)


def check_strength(password: str) -> None:
    """Raise ConfigError when ``password`` is too weak to be accepted."""
    if len(password) < MIN_LENGTH:
        raise ConfigError("password must be at least {n} characters long", n=MIN_LENGTH)
    if password.isdigit() or password.isalpha():
        raise ConfigError("password must mix letters with digits or symbols")


def verify_password(password_hash: str, password: str) -> bool:
    """Return True when ``password`` matches ``password_hash``; never raises on a mismatch."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Return True when the hash was made with weaker parameters than today's."""
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True
