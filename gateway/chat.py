"""Chat: a text-only turn for the backend, with a session's history and knowledge base or none.

It runs through the same TurnHandle as a spoken turn, with a client sender of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

from gateway.client_sender import ClientSender
from gateway.config import GatewaySettings
from gateway.conversation_context import ConversationContext, NoRecords, TurnRecords
from gateway.converse_inputs import ConverseOptions
from gateway.events import AssistantTextOut, ErrorOut, TurnEventKind, TurnEventOut
from gateway.sessions import Session, TutorProfile
from gateway.stream_clock import StreamClock
from gateway.turn_handle import TurnHandle
from gateway.upstream.clients import UpstreamClients
from gateway.upstream.llm_client import ChatMessage
from svc_core.errors import InvalidArgument

MAX_TEXT_CHARS = 4000

_TEXT_ONLY = ConverseOptions(
    input_sample_rate_hz=16000,
    output_sample_rate_hz=16000,
    send_text=True,
    send_audio=False,
    send_video=False,
    interim_transcripts=False,
)


async def chat_turn(
    text: str,
    *,
    tutor: TutorProfile,
    history: Sequence[ChatMessage],
    clients: UpstreamClients,
    settings: GatewaySettings,
    records: TurnRecords | None = None,
    session: Session | None = None,
) -> AsyncIterator[AssistantTextOut | TurnEventOut | ErrorOut]:
    """Runs one text-only turn: text deltas, then a completed or failed turn event.

    With ``records`` (a session's), the turn joins its history (and its WatchSessionTurns
    stream). A caller that goes away mid-answer leaves an interrupted turn.

    Raises:
        InvalidArgument: Empty or overlong text.
    """
    text = text.strip()
    if not 1 <= len(text) <= MAX_TEXT_CHARS:
        raise InvalidArgument(f"text must be 1-{MAX_TEXT_CHARS} characters")
    sender = ClientSender(lead_ms=0, capacity=settings.output_queue_size)
    context = ConversationContext(
        tutor=tutor,
        history=lambda: history,
        options=_TEXT_ONLY,
        clients=clients,
        settings=settings,
        clock=StreamClock(),
        tracing=None,
        records=records or NoRecords(),
        sender=sender,
        session=session,
    )
    turn = TurnHandle.plan(context, text, spoken=False)
    await turn.start()

    async def end_after_turn() -> None:
        await turn.wait()
        sender.end()

    ender = asyncio.create_task(end_after_turn())
    try:
        async for event in sender.events():
            if isinstance(event, TurnEventOut) and event.kind is TurnEventKind.STARTED:
                continue  # Chat's contract: deltas, then the finished turn
            if isinstance(event, AssistantTextOut | TurnEventOut | ErrorOut):
                yield event
    finally:
        await turn.interrupt("the caller went away")
        ender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ender
