"""Logging in, and who the caller is."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, HTTPException, status

from web_backend.app import crud, models, schemas
from web_backend.app.api.deps import AnyCaller, Context, SessionDep
from web_backend.app.core.security import Role, TokenClaims, create_access_token

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/login")
def login(body: schemas.LoginRequest, db: SessionDep, ctx: Context) -> schemas.Token:
    """Exchanges an admin's or student's email and password for an access token."""
    user = crud.authenticate(db=db, email=body.email, password=body.password)
    if user is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="wrong email or password")
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
