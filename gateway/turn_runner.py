"""A Converse stream's turns, one at a time: start, plan, run, interrupt, record."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, replace

from gateway.config import GatewaySettings
from gateway.converse_inputs import ConverseOptions
from gateway.events import ErrorOut, TranscriptOut, TurnEventOut
from gateway.sessions import Session, SessionRegistry
from gateway.stream_clock import StreamClock
from gateway.tracing import ConversationTracing
from gateway.turn_pipeline import (
    Emit,
    MediaTimeline,
    SpeechPlan,
    TurnPipeline,
    TurnPlan,
    tutor_generation,
)
from gateway.turn_records import TurnOutcome, TurnTimings
from gateway.upstream.channels import UpstreamError
from gateway.upstream.clients import UpstreamClients
from gateway.upstream.lipsync_client import AnimationSettings
from gateway.upstream.tts_client import VoiceSettings

logger = logging.getLogger(__name__)


@dataclass
class RunningTurn:
    """A turn in progress: its pipeline and the task running it."""

    pipeline: TurnPipeline
    task: asyncio.Task[None]


class TurnRunner:
    """Starts, runs and interrupts one stream's turns; at most one runs at a time.

    Args:
        session: The session the turns belong to.
        options: The stream's config.
        clients: Upstream clients.
        registry: Where finished turns are recorded.
        settings: Gateway settings.
        clock: The stream's clock.
        tracing: The stream's tracing (each turn gets its trace from it).
        emit: Sends an event towards the client.
    """

    def __init__(
        self,
        session: Session,
        options: ConverseOptions,
        *,
        clients: UpstreamClients,
        registry: SessionRegistry,
        settings: GatewaySettings,
        clock: StreamClock,
        tracing: ConversationTracing,
        emit: Emit,
    ) -> None:
        self._session = session
        self._options = options
        self._clients = clients
        self._registry = registry
        self._settings = settings
        self._clock = clock
        self._tracing = tracing
        self._emit = emit
        self._turn: RunningTurn | None = None
        self._turn_lock = asyncio.Lock()
        self._dead_turns: set[str] = set()
        self._media = MediaTimeline()

    @property
    def running(self) -> RunningTurn | None:
        """The turn in progress, if any."""
        return self._turn

    def is_dead(self, turn_id: str) -> bool:
        """Whether the turn was cut off, so its remaining output must not reach the client."""
        return turn_id in self._dead_turns

    async def start(
        self, text: str, *, end_of_speech_us: int, transcript: TranscriptOut | None = None
    ) -> None:
        """Starts a turn answering ``text``, interrupting the one in progress.

        Args:
            text: What the student said or typed.
            end_of_speech_us: When the student stopped speaking (stream clock); 0 if typed.
            transcript: The final transcript that asked the question (sent with the turn's id).
        """
        async with self._turn_lock:
            if self._turn is not None:
                await self._interrupt_locked("new question")
            turn_id = uuid.uuid4().hex
            now = self._clock.now_us()
            if transcript is not None:
                await self._emit(
                    TranscriptOut(
                        transcript.text,
                        True,
                        turn_id,
                        transcript.utterance_start_ms,
                        transcript.utterance_end_ms,
                    )
                )
            timings = TurnTimings(
                end_of_speech_us=end_of_speech_us, final_transcript_us=max(now, 1)
            )
            pipeline = TurnPipeline(
                self._plan(turn_id, text),
                clients=self._clients,
                settings=self._settings,
                clock=self._clock,
                timings=timings,
                emit=self._emit,
                media=self._media,
                output_sample_rate_hz=self._options.output_sample_rate_hz,
                trace=self._tracing.start_turn(
                    turn_id, spoken=transcript is not None, start_us=end_of_speech_us or now
                ),
            )
            await self._emit(TurnEventOut(turn_id, "started", replace(timings)))
            task = asyncio.create_task(self._run(pipeline))
            self._turn = RunningTurn(pipeline, task)

    async def interrupt(self, reason: str) -> None:
        """Stops the turn in progress, if any, and records it as interrupted.

        Args:
            reason: Why (for the log).
        """
        async with self._turn_lock:
            await self._interrupt_locked(reason)

    async def wait_until_idle(self) -> None:
        """Waits until no turn is in progress (however each one ends)."""
        while self._turn is not None:
            # wait() rather than await: an interrupted turn's cancellation is not ours.
            await asyncio.wait([self._turn.task])

    def abandon(self) -> None:
        """Cancels the turn in progress without recording it; its output is dropped."""
        if self._turn is not None:
            self._dead_turns.add(self._turn.pipeline.turn_id)
            self._turn.task.cancel()

    def detach(self) -> RunningTurn | None:
        """Forgets the turn in progress and returns it, for the caller to cancel and record."""
        running = self._turn
        self._turn = None
        return running

    def _plan(self, turn_id: str, text: str) -> TurnPlan:
        tutor = self._session.tutor
        speech = None
        if self._options.send_audio or self._options.send_video:
            rate = self._options.output_sample_rate_hz
            video = None
            if self._options.send_video:
                video = AnimationSettings(
                    sample_rate_hz=rate,
                    avatar_id=tutor.avatar_id,
                    fps=self._options.fps,
                    pixel_format=self._options.pixel_format,
                    width=self._options.width,
                    height=self._options.height,
                )
            speech = SpeechPlan(
                VoiceSettings(rate, voice=tutor.voice, language_code=tutor.language_code), video
            )
        return TurnPlan(
            turn_id=turn_id,
            user_text=text,
            generation=tutor_generation(
                tutor, self._session.history(self._settings.max_history_turns), text
            ),
            speech=speech,
        )

    async def _run(self, pipeline: TurnPipeline) -> None:
        error: ErrorOut | None = None
        try:
            await pipeline.run()
            outcome = TurnOutcome.COMPLETED
        except UpstreamError as exc:
            outcome = TurnOutcome.FAILED
            error = ErrorOut(exc.code.value[0], exc.detail, exc.stage, pipeline.turn_id)
            logger.warning("turn %s failed in %s: %s", pipeline.turn_id, exc.stage, exc.code.name)
        # From here on the turn is over: barge-in must no longer cancel it (no await before this).
        if self._turn is not None and self._turn.pipeline is pipeline:
            self._turn = None
        record = pipeline.finish(outcome)
        if error is not None:
            await self._emit(error)
        await self._registry.add_turn(self._session, record)
        kind = "completed" if outcome is TurnOutcome.COMPLETED else "failed"
        await self._emit(TurnEventOut(pipeline.turn_id, kind, record.timings, record))

    async def _interrupt_locked(self, reason: str) -> None:
        running = self._turn
        if running is None:
            return
        heard_at = time.monotonic()
        self._turn = None
        self._dead_turns.add(running.pipeline.turn_id)
        running.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running.task
        record = running.pipeline.finish(TurnOutcome.INTERRUPTED, heard_at=heard_at)
        logger.info("turn %s interrupted (%s)", record.turn_id, reason)
        await self._registry.add_turn(self._session, record)
        await self._emit(TurnEventOut(record.turn_id, "interrupted", record.timings, record))
