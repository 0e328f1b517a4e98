"""Password hashing (argon2 via pwdlib) and access tokens (JWT, HS256)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt
from pwdlib import PasswordHash

Role = Literal["admin", "student"]
ALGORITHM = "HS256"

_password_hash = PasswordHash.recommended()
# Checked against when the email is unknown, so a login takes as long either way and does not
# tell an attacker which emails exist.
_DUMMY_HASH = _password_hash.hash("not-a-real-password")


def hash_password(password: str) -> str:
    """An argon2 hash of `password`."""
    return _password_hash.hash(password)


def verify_password(password: str, hashed: str | None) -> bool:
    """Whether `password` matches `hashed`; a missing hash still costs one verification."""
    if hashed is None:
        _password_hash.verify(password, _DUMMY_HASH)
        return False
    return _password_hash.verify(password, hashed)


@dataclass(frozen=True)
class TokenClaims:
    """What an access token says about its bearer."""

    subject: str
    tenant_id: str
    role: Role


def create_access_token(
    claims: TokenClaims, *, secret: str, ttl: timedelta, now: datetime | None = None
) -> str:
    """A signed token for `claims` that expires after `ttl`."""
    issued = now or datetime.now(UTC)
    payload = {
        "sub": claims.subject,
        "tenant": claims.tenant_id,
        "role": claims.role,
        "iat": issued,
        "exp": issued + ttl,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def decode_access_token(token: str, *, secret: str) -> TokenClaims:
    """The claims of a valid token.

    Raises:
        jwt.InvalidTokenError: the token is malformed, badly signed, expired or incomplete.
    """
    payload = jwt.decode(
        token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "role"]}
    )
    role = payload.get("role")
    tenant = payload.get("tenant")
    if role not in ("admin", "student") or not isinstance(tenant, str):
        raise jwt.InvalidTokenError("token lacks a role or tenant")
    return TokenClaims(subject=str(payload["sub"]), tenant_id=tenant, role=role)
