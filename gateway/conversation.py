"""A live Converse stream: the client's inputs in, one paced sender out, turns in between.

Audio goes to the speech input, which reports plain speech events; those, typed text and
interrupts go to the one turn coordinator; every turn writes to its own channel, which the
stream's client sender reads. Nothing here knows how a turn runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from functools import partial

import grpc

from gateway.client_sender import ClientSender
from gateway.config import GatewaySettings
from gateway.conversation_context import ConversationContext, SessionTurns
from gateway.converse_inputs import (
    AudioIn,
    ClientInput,
    ConverseOptions,
    IdlePositionIn,
    InterruptIn,
    TextIn,
)
from gateway.events import ConverseEvent, ErrorOut, SessionOpened
from gateway.sessions import Session, SessionRegistry, SessionState
from gateway.speech_events import SpeechEvent
from gateway.speech_input import SpeechInput
from gateway.stream_clock import StreamClock
from gateway.tracing import ConversationTracing
from gateway.turn_coordinator import TurnCoordinator
from gateway.turn_handle import TurnHandle
from gateway.upstream.clients import UpstreamClients

# The client's inputs and config are re-exported: server.py and proto_mapping.py take them here.
__all__ = ["AudioIn", "ClientInput", "Conversation", "ConverseOptions", "InterruptIn", "TextIn"]


class Conversation:
    """Runs one session's Converse stream.

    Args:
        session: The session (already authorized and connected).
        options: The stream's config.
        clients: Upstream clients.
        registry: Where finished turns are recorded.
        settings: Gateway settings.
    """

    def __init__(
        self,
        session: Session,
        options: ConverseOptions,
        *,
        clients: UpstreamClients,
        registry: SessionRegistry,
        settings: GatewaySettings,
    ) -> None:
        self.session = session
        self.options = options
        self._registry = registry
        clock = StreamClock()
        self.sender = ClientSender(
            lead_ms=settings.media_lead_ms, capacity=settings.output_queue_size
        )
        self.context = ConversationContext(
            tutor=session.tutor,
            history=partial(session.history, settings.max_history_turns),
            options=options,
            clients=clients,
            settings=settings,
            clock=clock,
            tracing=ConversationTracing(clock, session.session_id),
            records=SessionTurns(registry, session),
            sender=self.sender,
            session=session,
        )
        # Speculative answers need interim transcripts even when the client wants none.
        interim = options.interim_transcripts or settings.speculation_stable_ms > 0
        self.speech = SpeechInput(self.context, self._on_speech, interim_results=interim)
        self.turns = TurnCoordinator(self.context, quiet_ms=lambda: self.speech.quiet_ms)
        self._failure: BaseException | None = None

    async def _on_speech(self, event: SpeechEvent) -> None:
        await self.turns.on_speech(event)

    @property
    def current_turn(self) -> TurnHandle | None:
        """The turn playing, if any."""
        return self.turns.current_turn

    async def events(self, inputs: AsyncIterator[ClientInput]) -> AsyncIterator[ConverseEvent]:
        """Consumes the client's inputs and yields what to send back, until the stream ends.

        Raises:
            ServiceError: Bad input from the client (the stream ends with that status).
        """
        yield SessionOpened(self.options.output_sample_rate_hz, self.options.send_video)
        feeder = asyncio.create_task(self._consume(inputs), name="converse-inputs")
        watcher = asyncio.create_task(self._watch_session(), name="converse-session")
        try:
            async for event in self.sender.events():
                yield event
            if self._failure is not None:
                raise self._failure
        finally:
            await self._shutdown(feeder, watcher)

    async def _consume(self, inputs: AsyncIterator[ClientInput]) -> None:
        try:
            async for item in inputs:
                self.session.touch()
                if isinstance(item, AudioIn):
                    await self.speech.on_audio(item.data)
                elif isinstance(item, TextIn):
                    await self.turns.on_text(item.text)
                elif isinstance(item, IdlePositionIn):
                    self.context.idle.report(item.idle_index, self.context.clock.now_us())
                else:
                    await self.turns.on_interrupt()
            # Half-close: finish the utterance in progress, then the turn it may start.
            await self.speech.finish()
            await self.turns.wait_until_idle()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failure = exc
        self.sender.end()

    async def _watch_session(self) -> None:
        await self.session.closed.wait()
        expired = self.session.state is SessionState.EXPIRED
        message = "the session has expired" if expired else "the session has ended"
        code = int(grpc.StatusCode.FAILED_PRECONDITION.value[0])
        # Media nobody will play is dropped; the last word is why the stream ends.
        self.sender.end(ErrorOut(code, message, "gateway"))

    async def _shutdown(self, *tasks: asyncio.Task[None]) -> None:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.speech.close()
        # The client went away or the session closed mid-turn: keep what the student heard.
        with contextlib.suppress(Exception):
            await self.turns.close()
        if self.context.tracing is not None:
            self.context.tracing.close()
        self._registry.disconnect(self.session)
