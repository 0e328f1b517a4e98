"""Logging in, and who the caller is."""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import APIRouter, HTTPException, Request, status

from web_backend.app import crud, models, schemas
from web_backend.app.api.deps import AnyCaller, Context, SessionDep
from web_backend.app.core.security import Role, TokenClaims, create_access_token

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/login")
def login(
    body: schemas.LoginRequest, request: Request, db: SessionDep, ctx: Context
) -> schemas.Token:
    """Exchanges an admin's or student's email and password for an access token.

    Failed logins are throttled per account and per address: past the limit the answer is
    429 with Retry-After, before the password is even checked.
    """
    address = request.client.host if request.client else "unknown"
    throttle = ctx.login_throttle
    wait_s = throttle.retry_after(account=body.email, address=address)
    if wait_s is not None:
        logger.info("login throttled for %d s", wait_s)
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"too many failed logins: try again in {wait_s} s",
            headers={"Retry-After": str(wait_s)},
        )
    user = crud.authenticate(db=db, email=body.email, password=body.password)
    if user is None:
        throttle.failed(account=body.email, address=address)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="wrong email or password")
    throttle.succeeded(account=body.email)
    role: Role = "admin" if isinstance(user, models.Admin) else "student"
    ttl = ctx.settings.access_token_ttl_s
    token = create_access_token(
        TokenClaims(subject=user.id, tenant_id=user.tenant_id, role=role),
        secret=ctx.jwt_secret,
        ttl=timedelta(seconds=ttl),
    )
    return schemas.Token(access_token=token, role=role, expires_in=ttl)


@router.get("/me")
def me(caller: AnyCaller) -> schemas.Me:
    """The caller's account."""
    return schemas.Me(
        id=caller.id,
        tenant_id=caller.tenant_id,
        email=caller.email,
        full_name=caller.full_name,
        role=caller.role,
    )
