"""A live Converse stream: its inputs, turns and speech input joined to one output queue."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc

from gateway import metrics
from gateway.config import GatewaySettings
from gateway.converse_inputs import AudioIn, ClientInput, ConverseOptions, InterruptIn, TextIn
from gateway.events import (
    AssistantTextOut,
    AudioOut,
    ConverseEvent,
    ErrorOut,
    FrameOut,
    SessionOpened,
)
from gateway.sessions import Session, SessionRegistry, SessionState
from gateway.speech_input import SpeechInput
from gateway.stream_clock import StreamClock
from gateway.tracing import ConversationTracing
from gateway.turn_pipeline import TurnPipeline
from gateway.turn_records import TurnOutcome
from gateway.turn_runner import TurnRunner
from gateway.upstream.clients import UpstreamClients

# The client's inputs and config are re-exported: server.py and proto_mapping.py take them here.
__all__ = ["AudioIn", "ClientInput", "Conversation", "ConverseOptions", "InterruptIn", "TextIn"]

_INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]


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
        self.clock = StreamClock()
        self.tracing = ConversationTracing(self.clock, session.session_id)
        self._registry = registry
        self._out: asyncio.Queue[ConverseEvent | None] = asyncio.Queue(settings.output_queue_size)
        self._failure: BaseException | None = None
        self._turns = TurnRunner(
            session,
            options,
            clients=clients,
            registry=registry,
            settings=settings,
            clock=self.clock,
            tracing=self.tracing,
            emit=self._emit,
        )
        self._speech = SpeechInput(
            session,
            options,
            clients=clients,
            settings=settings,
            clock=self.clock,
            tracing=self.tracing,
            turns=self._turns,
            emit=self._emit,
        )

    @property
    def current_turn(self) -> TurnPipeline | None:
        """The turn in progress, if any."""
        running = self._turns.running
        return running.pipeline if running else None

    async def events(self, inputs: AsyncIterator[ClientInput]) -> AsyncIterator[ConverseEvent]:
        """Consumes the client's inputs and yields what to send back, until the stream ends.

        Raises:
            ServiceError: Bad input from the client (the stream ends with that status).
        """
        yield SessionOpened(self.options.output_sample_rate_hz, self.options.send_video)
        feeder = asyncio.create_task(self._consume(inputs))
        watcher = asyncio.create_task(self._watch_session())
        try:
            while True:
                event = await self._out.get()
                if event is None:
                    break
                if self._is_dead(event):
                    if isinstance(event, AudioOut | FrameOut):
                        event.tracker.dropped()
                    continue
                yield event
                if isinstance(event, AudioOut):
                    event.tracker.sent(len(event.data) // 2)
                elif isinstance(event, FrameOut):
                    event.tracker.sent(len(event.frame.audio) // 2)
                    metrics.record_frame()
            if self._failure is not None:
                raise self._failure
        finally:
            await self._shutdown(feeder, watcher)

    # Input side ------------------------------------------------------------------------------

    async def _consume(self, inputs: AsyncIterator[ClientInput]) -> None:
        try:
            async for item in inputs:
                self.session.touch()
                if isinstance(item, AudioIn):
                    await self._speech.on_audio(item.data)
                elif isinstance(item, TextIn):
                    await self._on_text(item.text)
                else:
                    await self._turns.interrupt("interrupt message")
            # Half-close: finish the utterance in progress, then the turn it may start.
            await self._speech.finish()
            await self._turns.wait_until_idle()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failure = exc
        await self._out.put(None)

    async def _on_text(self, text: str) -> None:
        text = text.strip()
        if not text:
            await self._emit(
                ErrorOut(grpc.StatusCode.INVALID_ARGUMENT.value[0], "empty text", "gateway")
            )
            return
        if len(text) > 4000:
            await self._emit(
                ErrorOut(
                    _INVALID_ARGUMENT,
                    "text longer than 4000 characters",
                    "gateway",
                )
            )
            return
        await self._turns.start(text, end_of_speech_us=0)

    # Output ----------------------------------------------------------------------------------

    async def _emit(self, event: ConverseEvent) -> None:
        if isinstance(event, ErrorOut):
            metrics.record_error(event.stage, event.code)
        await self._out.put(event)

    def _is_dead(self, event: ConverseEvent) -> bool:
        if isinstance(event, AssistantTextOut | AudioOut | FrameOut):
            return self._turns.is_dead(event.turn_id)
        return False

    async def _watch_session(self) -> None:
        await self.session.closed.wait()
        state = self.session.state
        message = (
            "the session has expired" if state is SessionState.EXPIRED else "the session has ended"
        )
        self._turns.abandon()
        # The queue may be full of media nobody will play; make room for the last words.
        while not self._out.empty():
            self._out.get_nowait()
        self._out.put_nowait(
            ErrorOut(grpc.StatusCode.FAILED_PRECONDITION.value[0], message, "gateway")
        )
        self._out.put_nowait(None)

    async def _shutdown(self, *tasks: asyncio.Task[None]) -> None:
        running = self._turns.detach()
        owned = [*tasks]
        if running is not None:
            owned.append(running.task)
        if self._speech.task is not None:
            owned.append(self._speech.task)
        for task in owned:
            task.cancel()
        for task in owned:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if running is not None and not self._turns.is_dead(running.pipeline.turn_id):
            # The client went away mid-turn: keep what it heard.
            record = running.pipeline.finish(TurnOutcome.INTERRUPTED)
            await self._registry.add_turn(self.session, record)
        self.tracing.close()
        self._registry.disconnect(self.session)
