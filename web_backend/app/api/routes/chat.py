"""Text chat with a tutor through the gateway, saved as turns; plain JSON or SSE."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from web_backend.app import crud, models, schemas
from web_backend.app.api.deps import (
    Caller,
    Context,
    CurrentStudent,
    Gateway,
    SessionDep,
    session_of,
    tutor_of,
)
from web_backend.app.api.routes.sessions import tutor_profile
from web_backend.app.core.gateway import ChatDelta, GatewayClient, GatewayError, TurnResult
from web_backend.app.core.turn_recorder import turn_fields

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/tutors/{tutor_id}", tags=["chat"])

# Earlier turns sent with each question: enough context, bounded request size.
HISTORY_TURNS = 20


def _chat_session(
    db: Session, student: Caller, tutor: models.Tutor, body: schemas.ChatRequest
) -> models.TutorSession:
    if body.session_id is None:
        return crud.create_session(
            db=db,
            tenant_id=student.tenant_id,
            student_id=student.id,
            tutor_id=tutor.id,
            kind="chat",
        )
    session = session_of(db, student, body.session_id)
    if session.tutor_id != tutor.id or session.kind != "chat" or session.state == "ended":
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail="the session is not an open chat with this tutor"
        )
    return session


def _history(db: Session, session_id: str) -> list[tuple[str, str]]:
    turns = crud.list_turns(db=db, session_id=session_id)[-HISTORY_TURNS:]
    history: list[tuple[str, str]] = []
    for turn in turns:
        if turn.failed:
            continue
        history.append(("user", turn.user_text))
        if turn.assistant_text:
            history.append(("assistant", turn.assistant_text))
    return history


async def _answer(
    gateway: GatewayClient,
    db: Session,
    tutor: models.Tutor,
    session: models.TutorSession,
    text: str,
) -> AsyncIterator[ChatDelta | models.Turn]:
    """Streams the answer's deltas, then the stored turn."""
    finished: TurnResult | None = None
    async for event in gateway.chat(
        tenant_id=session.tenant_id,
        tutor=tutor_profile(db, tutor),
        history=_history(db, session.id),
        text=text,
    ):
        if isinstance(event, ChatDelta):
            yield event
        else:
            finished = event
    if finished is None:
        raise GatewayError("INTERNAL", "the gateway ended the chat without a turn", 502)
    index = crud.next_turn_index(db=db, session_id=session.id)
    fields = turn_fields(finished, turn_index=index)
    yield crud.save_turn(db=db, session_id=session.id, fields=fields)


@router.post("/chat")
async def chat(
    tutor_id: str,
    body: schemas.ChatRequest,
    db: SessionDep,
    student: CurrentStudent,
    gateway: Gateway,
) -> schemas.ChatAnswer:
    """Asks the tutor a typed question; the answer comes back whole and is saved as a turn."""
    tutor = tutor_of(db, student, tutor_id)
    session = _chat_session(db, student, tutor, body)
    turn: models.Turn | None = None
    async for event in _answer(gateway, db, tutor, session, body.text):
        if isinstance(event, models.Turn):
            turn = event
    assert turn is not None  # _answer always ends with the stored turn or raises
    return schemas.ChatAnswer(session_id=session.id, turn=schemas.TurnPublic.of(turn))


def _sse(event: str, data: object) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


@router.post("/chat/stream", response_class=StreamingResponse)
async def chat_stream(
    tutor_id: str,
    body: schemas.ChatRequest,
    db: SessionDep,
    student: CurrentStudent,
    gateway: Gateway,
    ctx: Context,
) -> StreamingResponse:
    """Like /chat, as Server-Sent Events: ``session``, then ``delta`` events, then ``turn``.

    A failure after the stream started arrives as an ``error`` event with the HTTP status.
    """
    tutor = tutor_of(db, student, tutor_id)
    session = _chat_session(db, student, tutor, body)
    tutor_id, session_id = tutor.id, session.id

    async def events() -> AsyncIterator[str]:
        # Its own database session: the request's may be closed while this still streams.
        with ctx.sessions() as stream_db:
            stream_tutor = stream_db.get(models.Tutor, tutor_id)
            stream_session = stream_db.get(models.TutorSession, session_id)
            assert stream_tutor is not None and stream_session is not None
            yield _sse("session", {"session_id": session_id})
            try:
                async for event in _answer(
                    gateway, stream_db, stream_tutor, stream_session, body.text
                ):
                    if isinstance(event, ChatDelta):
                        yield _sse("delta", {"turn_id": event.turn_id, "text": event.delta})
                    else:
                        yield _sse("turn", schemas.TurnPublic.of(event).model_dump(mode="json"))
            except GatewayError as error:
                logger.info("chat stream failed in the gateway: %s", error.code)
                yield _sse("error", {"status": error.http_status, "detail": error.message})

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
