"""Join links: an admin hands a student a link (and its QR code); opening it starts a session.

The link's secret stays in the URL fragment; the join page sends it in a POST body, so it is
never in a URL a server sees. See web_backend.app.core.join_links.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from fastapi import APIRouter, HTTPException, Request, status

from web_backend.app import crud, models, schemas
from web_backend.app.api.deps import Context, CurrentAdmin, SessionDep, not_found, tutor_of
from web_backend.app.api.routes.sessions import open_live_session
from web_backend.app.core.join_links import (
    JoinClaims,
    JoinLinkInvalid,
    create_join_secret,
    join_url,
    qr_svg,
    read_join_secret,
)

logger = logging.getLogger(__name__)

router = APIRouter(tags=["join links"])


def public_base_url(request: Request, configured: str) -> str:
    """Where browsers reach this backend: WEB_PUBLIC_URL, else the URL this request came to."""
    return configured.rstrip("/") or str(request.base_url).rstrip("/")


@router.post("/api/join-links", status_code=status.HTTP_201_CREATED)
def create_join_link(
    body: schemas.JoinLinkCreate,
    request: Request,
    db: SessionDep,
    admin: CurrentAdmin,
    ctx: Context,
) -> schemas.JoinLinkPublic:
    """A link that opens a live session of this student with this tutor, valid for
    WEB_JOIN_LINK_TTL_S (a week); both must be of the admin's tenant (404 otherwise)."""
    student = crud.get_student(db=db, tenant_id=admin.tenant_id, student_id=body.student_id)
    if student is None:
        raise not_found("student")
    tutor = tutor_of(db, admin, body.tutor_id)
    secret, expires = create_join_secret(
        JoinClaims(tenant_id=admin.tenant_id, student_id=student.id, tutor_id=tutor.id),
        secret=ctx.jwt_secret,
        ttl=timedelta(seconds=ctx.settings.join_link_ttl_s),
    )
    url = join_url(public_base_url(request, ctx.settings.public_url), secret)
    return schemas.JoinLinkPublic(
        url=url, expires_at=expires, student_id=student.id, tutor_id=tutor.id, qr_svg=qr_svg(url)
    )


def _link_refused(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=message)


@router.post("/api/join", status_code=status.HTTP_201_CREATED)
async def join(body: schemas.JoinRequest, db: SessionDep, ctx: Context) -> schemas.JoinStarted:
    """Opens a live session from a join link's secret.

    Answers 401 for a secret that is malformed, tampered with or expired, or whose student is
    disabled; 404 when its student or tutor no longer exists in its tenant.
    """
    try:
        claims = read_join_secret(body.secret, secret=ctx.jwt_secret)
    except JoinLinkInvalid as error:
        raise _link_refused(str(error)) from None
    student = crud.get_student(db=db, tenant_id=claims.tenant_id, student_id=claims.student_id)
    if student is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail="this join link's student no longer exists"
        )
    if not student.is_active:
        raise _link_refused("this student account is disabled: ask your school")
    tutor: models.Tutor | None = crud.get_tutor(
        db=db, tenant_id=claims.tenant_id, tutor_id=claims.tutor_id
    )
    if tutor is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail="this join link's tutor no longer exists"
        )
    started = await open_live_session(db, ctx, student_id=student.id, tutor=tutor)
    return schemas.JoinStarted(
        tutor_name=tutor.name,
        student_name=student.full_name,
        session_id=started.session.id,
        student_page_url=started.student_page_url,
        expires_at=started.expires_at,
    )
