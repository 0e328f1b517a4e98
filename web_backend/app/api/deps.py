"""Route dependencies: the database session, the caller, and tenant-scoped lookups.

A lookup of another tenant's id answers 404, exactly like an id that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from web_backend.app import crud, models
from web_backend.app.core.context import AppContext
from web_backend.app.core.gateway import GatewayClient
from web_backend.app.core.security import Role, decode_access_token

_bearer = HTTPBearer(auto_error=False)


def get_context(request: Request) -> AppContext:
    """The application's context."""
    ctx: AppContext = request.app.state.ctx
    return ctx


Context = Annotated[AppContext, Depends(get_context)]


def get_db(ctx: Context) -> Iterator[Session]:
    """A database session for one request, closed afterwards."""
    with ctx.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]


def get_gateway(ctx: Context) -> GatewayClient:
    """The gateway client."""
    return ctx.gateway


Gateway = Annotated[GatewayClient, Depends(get_gateway)]


@dataclass(frozen=True)
class Caller:
    """Who is calling: an admin or a student of one tenant."""

    id: str
    tenant_id: str
    role: Role
    email: str
    full_name: str


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def get_caller(
    ctx: Context,
    db: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The caller named by the bearer token.

    Raises:
        HTTPException: 401 without a valid, unexpired token of an active account.
    """
    if credentials is None:
        raise _unauthorized("not authenticated")
    try:
        claims = decode_access_token(credentials.credentials, secret=ctx.jwt_secret)
    except jwt.ExpiredSignatureError:
        raise _unauthorized("token expired") from None
    except jwt.InvalidTokenError:
        raise _unauthorized("invalid token") from None
    user: models.Admin | models.Student | None = (
        db.get(models.Admin, claims.subject)
        if claims.role == "admin"
        else db.get(models.Student, claims.subject)
    )
    if user is None or not user.is_active or user.tenant_id != claims.tenant_id:
        raise _unauthorized("account not found or disabled")
    return Caller(user.id, user.tenant_id, claims.role, user.email, user.full_name)


AnyCaller = Annotated[Caller, Depends(get_caller)]


def get_admin(caller: AnyCaller) -> Caller:
    """The caller, who must be an admin (403 otherwise)."""
    if caller.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="admins only")
    return caller


def get_student(caller: AnyCaller) -> Caller:
    """The caller, who must be a student (403 otherwise)."""
    if caller.role != "student":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="students only")
    return caller


CurrentAdmin = Annotated[Caller, Depends(get_admin)]
CurrentStudent = Annotated[Caller, Depends(get_student)]


def not_found(what: str) -> HTTPException:
    """The 404 for a missing (or another tenant's) resource."""
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=f"{what} not found")


def tutor_of(db: Session, caller: Caller, tutor_id: str) -> models.Tutor:
    """The caller's tenant's tutor, or 404."""
    tutor = crud.get_tutor(db=db, tenant_id=caller.tenant_id, tutor_id=tutor_id)
    if tutor is None:
        raise not_found("tutor")
    return tutor


def avatar_of(db: Session, caller: Caller, avatar_id: str) -> models.Avatar:
    """The caller's tenant's avatar, or 404."""
    avatar = crud.get_avatar(db=db, tenant_id=caller.tenant_id, avatar_id=avatar_id)
    if avatar is None:
        raise not_found("avatar")
    return avatar


def session_of(db: Session, caller: Caller, session_id: str) -> models.TutorSession:
    """The caller's session (a student sees only their own; an admin their tenant's), or 404."""
    session = crud.get_session(db=db, tenant_id=caller.tenant_id, session_id=session_id)
    if session is None or (caller.role == "student" and session.student_id != caller.id):
        raise not_found("session")
    return session
