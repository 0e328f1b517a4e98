"""Chat: a text-only turn for the backend, with a session's history and knowledge base or none."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence

from gateway.config import GatewaySettings
from gateway.events import AssistantTextOut, ConverseEvent, ErrorOut, TurnEventOut
from gateway.sessions import Session, SessionRegistry, TutorProfile
from gateway.stream_clock import StreamClock
from gateway.turn_pipeline import MediaTimeline, TurnPipeline, TurnPlan, tutor_generation
from gateway.turn_records import TurnOutcome, TurnTimings
from gateway.upstream.channels import UpstreamError
from gateway.upstream.clients import UpstreamClients
from gateway.upstream.llm_client import ChatMessage
from svc_core.errors import InvalidArgument

MAX_TEXT_CHARS = 4000


async def chat_turn(
    text: str,
    *,
    tutor: TutorProfile,
    history: Sequence[ChatMessage],
    clients: UpstreamClients,
    settings: GatewaySettings,
    registry: SessionRegistry | None = None,
    session: Session | None = None,
) -> AsyncIterator[AssistantTextOut | TurnEventOut | ErrorOut]:
    """Runs one text-only turn: text deltas, then a completed or failed turn event.

    With a session, the turn joins its history (and its WatchSessionTurns stream).

    Raises:
        InvalidArgument: Empty or overlong text.
    """
    text = text.strip()
    if not 1 <= len(text) <= MAX_TEXT_CHARS:
        raise InvalidArgument(f"text must be 1-{MAX_TEXT_CHARS} characters")
    clock = StreamClock()
    out: asyncio.Queue[ConverseEvent | None] = asyncio.Queue(settings.output_queue_size)
    turn_id = uuid.uuid4().hex
    pipeline = TurnPipeline(
        TurnPlan(
            turn_id=turn_id,
            user_text=text,
            generation=tutor_generation(tutor, history, text),
        ),
        clients=clients,
        settings=settings,
        clock=clock,
        timings=TurnTimings(final_transcript_us=1),
        emit=out.put,
        media=MediaTimeline(),
        output_sample_rate_hz=16000,
    )

    async def run() -> None:
        error = None
        try:
            await pipeline.run()
            outcome = TurnOutcome.COMPLETED
        except UpstreamError as exc:
            outcome = TurnOutcome.FAILED
            error = ErrorOut(int(exc.code.value[0]), exc.detail, exc.stage, turn_id)
        record = pipeline.finish(outcome)
        if registry is not None and session is not None:
            await registry.add_turn(session, record)
        if error is not None:
            await out.put(error)
        kind = "completed" if outcome is TurnOutcome.COMPLETED else "failed"
        await out.put(TurnEventOut(turn_id, kind, record.timings, record))
        await out.put(None)

    task = asyncio.create_task(run())
    try:
        while (event := await out.get()) is not None:
            if isinstance(event, AssistantTextOut | TurnEventOut | ErrorOut):
                yield event
        await task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
