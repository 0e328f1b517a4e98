"""Live sessions (through the rtc_edge) and the session history with transcripts."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, status

from web_backend.app import crud, models, schemas
from web_backend.app.api.deps import (
    AnyCaller,
    Context,
    CurrentStudent,
    Gateway,
    SessionDep,
    session_of,
    tutor_of,
)
from web_backend.app.core.gateway import GatewayError, TutorProfile
from web_backend.app.core.ice import ice_configuration

logger = logging.getLogger(__name__)

router = APIRouter(tags=["sessions"])


def tutor_profile(db: SessionDep, tutor: models.Tutor) -> TutorProfile:
    """The gateway's view of a tutor.

    A tutor's own knowledge base exists in the gateway only once a document was indexed into
    it; until then no base is named, since naming one that does not exist fails every turn
    with NOT_FOUND. A tutor on a built-in base (the seeded demo tutor) always names it.
    """
    has_knowledge = crud.uses_builtin_knowledge(tutor) or crud.has_documents(
        db=db, tutor_id=tutor.id
    )
    return TutorProfile(
        tutor_id=tutor.id,
        display_name=tutor.name,
        system_prompt=tutor.system_prompt,
        llm_model=tutor.llm_model,
        voice=tutor.voice,
        avatar_key=tutor.avatar.avatar_key if tutor.avatar is not None else "",
        language_code=tutor.language_code,
        knowledge_base_id=tutor.knowledge_base_id if has_knowledge else "",
        video_enabled=tutor.video_enabled,
    )


def session_detail(db: SessionDep, session: models.TutorSession) -> schemas.SessionDetail:
    """A session with its turns."""
    turns = [schemas.TurnPublic.of(t) for t in crud.list_turns(db=db, session_id=session.id)]
    summary = schemas.SessionPublic.model_validate(session)
    return schemas.SessionDetail(**summary.model_dump(), turns=turns)


async def open_live_session(
    db: SessionDep, ctx: Context, *, student_id: str, tutor: models.Tutor
) -> schemas.LiveSessionStarted:
    """Starts a live session of a student with a tutor in the gateway and records it.

    Returns what the edge's page needs to join it; ``student_page_url`` carries the session
    id and engine token in its fragment, which browsers never send to a server or write to
    access logs.
    """
    settings = ctx.settings
    grant = await ctx.gateway.create_session(
        tenant_id=tutor.tenant_id,
        student_id=student_id,
        tutor=tutor_profile(db, tutor),
        ttl_seconds=settings.session_ttl_s,
    )
    session = crud.create_session(
        db=db,
        tenant_id=tutor.tenant_id,
        student_id=student_id,
        tutor_id=tutor.id,
        kind="live",
        gateway_session_id=grant.session_id,
        expires_at=grant.expire_time,
    )
    ctx.turn_recorder.watch(session.id, grant.session_id)
    edge = settings.rtc_edge_url.rstrip("/")
    gateway_id = quote(grant.session_id, safe="")
    fragment = urlencode(
        {"session_id": grant.session_id, "token": grant.engine_token, "tutor": tutor.name},
        quote_via=quote,
    )
    logger.info("live session %s started for tutor %s", session.id, tutor.id)
    return schemas.LiveSessionStarted(
        session=schemas.SessionPublic.model_validate(session),
        gateway_session_id=grant.session_id,
        engine_url=grant.engine_url,
        engine_token=grant.engine_token,
        expires_at=grant.expire_time,
        edge_url=edge,
        signaling_url=f"{edge}/v1/sessions/{gateway_id}/offer",
        student_page_url=f"{edge}/#{fragment}",
        ice=ice_configuration(settings, user=student_id),
    )


@router.post("/api/tutors/{tutor_id}/sessions", status_code=status.HTTP_201_CREATED)
async def start_live_session(
    tutor_id: str, db: SessionDep, student: CurrentStudent, ctx: Context
) -> schemas.LiveSessionStarted:
    """Starts a live session with a tutor; returns what the edge's page needs to join it."""
    tutor = tutor_of(db, student, tutor_id)
    return await open_live_session(db, ctx, student_id=student.id, tutor=tutor)


@router.post("/api/sessions/{session_id}/end")
async def end_session(
    session_id: str, db: SessionDep, caller: AnyCaller, gateway: Gateway
) -> schemas.SessionPublic:
    """Ends a session (its student or an admin of the tenant); ending twice is harmless."""
    session = session_of(db, caller, session_id)
    if session.kind == "live" and session.state != "ended":
        try:
            await gateway.end_session(session.gateway_session_id)
        except GatewayError as error:
            # The gateway forgot it (expired, restarted): it is over either way.
            if error.code != "NOT_FOUND":
                raise
    crud.end_session(db=db, session=session, when=datetime.now(UTC))
    return schemas.SessionPublic.model_validate(session)


@router.get("/api/sessions")
def list_sessions(
    db: SessionDep, caller: AnyCaller, limit: int = Query(default=50, ge=1, le=500)
) -> list[schemas.SessionPublic]:
    """Recent sessions: the tenant's for an admin, their own for a student."""
    student_id = caller.id if caller.role == "student" else None
    sessions = crud.list_sessions(
        db=db, tenant_id=caller.tenant_id, student_id=student_id, limit=limit
    )
    return [schemas.SessionPublic.model_validate(s) for s in sessions]


@router.get("/api/sessions/{session_id}")
def get_session(session_id: str, db: SessionDep, caller: AnyCaller) -> schemas.SessionDetail:
    """A session with its transcript."""
    return session_detail(db, session_of(db, caller, session_id))
