"""One turn: LLM -> TTS -> lip-sync, each stage its own task, joined by bounded queues.

LLM tokens go to the client (captions) and to TTS at once; TTS audio goes to lip-sync at once
(or, audio only, to the client); each lip-sync frame, carrying its audio, goes to the client.
Media is paced a little ahead of real-time playback (see PlaybackTracker). Cancelling the task
running ``run()`` cancels every upstream call of the turn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import grpc
from opentelemetry import trace
from opentelemetry.trace import Link

from gateway import metrics
from gateway.config import GatewaySettings
from gateway.events import AssistantTextOut, AudioOut, ConverseEvent, FrameOut
from gateway.heard_text import heard_text
from gateway.playback import PlaybackTracker
from gateway.sessions import TutorProfile
from gateway.stream_clock import StreamClock
from gateway.tracing import TurnTrace
from gateway.turn_records import TurnOutcome, TurnRecord, TurnTimings
from gateway.upstream.channels import ResponseStream, UpstreamError
from gateway.upstream.clients import UpstreamClients
from gateway.upstream.lipsync_client import AnimationSettings
from gateway.upstream.llm_client import (
    ChatMessage,
    GenerationRequest,
    GenerationResult,
    TokenText,
)
from gateway.upstream.tts_client import SpeechAudio, SpokenSegment, VoiceSettings

logger = logging.getLogger(__name__)

Emit = Callable[[ConverseEvent], Awaitable[None]]


@dataclass(frozen=True)
class SpeechPlan:
    """How a turn's answer is spoken; ``video`` None means audio only (no lip-sync)."""

    voice: VoiceSettings
    video: AnimationSettings | None = None


@dataclass(frozen=True)
class TurnPlan:
    """Everything a turn needs to run."""

    turn_id: str
    user_text: str
    generation: GenerationRequest
    speech: SpeechPlan | None = None  # None: text only


def tutor_generation(
    tutor: TutorProfile, history: Sequence[ChatMessage], text: str
) -> GenerationRequest:
    """What to ask the LLM for a student's ``text``: the tutor's prompt, the history, the text."""
    system = [ChatMessage("system", tutor.system_prompt)] if tutor.system_prompt else []
    return GenerationRequest(
        messages=(*system, *history, ChatMessage("user", text)),
        model=tutor.llm_model,
        knowledge_base_id=tutor.knowledge_base_id,
    )


@dataclass
class MediaTimeline:
    """The output media clock of a stream: each turn's media follows the previous turn's."""

    next_free_us: int = 0

    def begin(self, now_us: int) -> int:
        """The stream pts at which a turn whose first media is ready at ``now_us`` starts."""
        return max(self.next_free_us, now_us)


@dataclass
class _StageState:
    answer: list[str] = field(default_factory=list)
    segments: list[SpokenSegment] = field(default_factory=list)
    generation: GenerationResult | None = None


class TurnPipeline:
    """Runs one turn and keeps what it needs to record it, however it ends.

    Args:
        plan: What to say and how.
        clients: The upstream clients.
        settings: Queue sizes and pacing.
        clock: The stream's clock (timestamps are on it).
        timings: The turn's timings, with end of speech and final transcript already set.
        emit: Sends an event towards the client (may wait: the output queue is bounded).
        media: The stream's output media clock.
        output_sample_rate_hz: Rate of the audio sent to the client.
        trace: The turn's spans; without it the turn starts its own trace, linked to the
            current span (the Chat call).
    """

    def __init__(
        self,
        plan: TurnPlan,
        *,
        clients: UpstreamClients,
        settings: GatewaySettings,
        clock: StreamClock,
        timings: TurnTimings,
        emit: Emit,
        media: MediaTimeline,
        output_sample_rate_hz: int,
        trace: TurnTrace | None = None,
    ) -> None:
        self.plan = plan
        self.timings = timings
        if trace is None:
            caller = _current_span_links()
            trace = TurnTrace.start(plan.turn_id, clock, links=caller)
        self.trace = trace
        self.trace.record_asr_final(timings)
        self._failure = ""
        self.start_time = datetime.now(UTC)
        self.tracker = PlaybackTracker(output_sample_rate_hz, settings.media_lead_ms)
        self.streams: dict[str, ResponseStream[Any]] = {}
        self._clients = clients
        self._settings = settings
        self._clock = clock
        self._emit = emit
        self._media = media
        self._media_base_us: int | None = None
        self._state = _StageState()

    @property
    def turn_id(self) -> str:
        """The turn's id."""
        return self.plan.turn_id

    async def run(self) -> None:
        """Runs every stage to the end and waits until the client has been sent all media.

        Raises:
            UpstreamError: A stage failed (the other stages are cancelled first).
        """
        speech = self.plan.speech
        to_tts: asyncio.Queue[str | None] | None = None
        if speech is not None:
            to_tts = asyncio.Queue(self._settings.stage_queue_size)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._llm_stage(to_tts))
                if speech is not None and to_tts is not None:
                    speech_audio: asyncio.Queue[bytes | None] = asyncio.Queue(
                        self._settings.speech_queue_size
                    )
                    group.create_task(self._tts_stage(speech.voice, to_tts, speech_audio))
                    if speech.video is not None:
                        group.create_task(self._lipsync_stage(speech.video, speech_audio))
                    else:
                        group.create_task(
                            self._speaker_stage(speech.voice.sample_rate_hz, speech_audio)
                        )
        except BaseExceptionGroup as group:
            error = _first_error(group)
            self._failure = str(error)
            raise error from None
        await self.tracker.wait_drained()

    def finish(self, outcome: TurnOutcome, *, heard_at: float | None = None) -> TurnRecord:
        """The turn's record; for an interrupted turn, only what the student heard by ``heard_at``.

        Also advances the stream's media clock past this turn's media.
        """
        now_us = self._clock.now_us()
        self.timings.end_us = max(now_us, 1)
        if self.tracker.last_sent is not None:
            self.timings.last_frame_us = self._clock.us_at(self.tracker.last_sent)
        answer = "".join(self._state.answer).strip()
        if outcome is TurnOutcome.INTERRUPTED and self.plan.speech is not None:
            heard_ms = self.tracker.heard_ms(heard_at)
            answer = heard_text(self._state.segments, heard_ms)
            played_us = heard_ms * 1000
        else:
            played_us = self.tracker.sent_ms * 1000
        if self._media_base_us is not None:
            self._media.next_free_us = self._media_base_us + played_us
        generation = self._state.generation
        self.trace.end(outcome, self.timings, error=self._failure)
        metrics.record_turn(outcome, self.timings)
        return TurnRecord(
            turn_id=self.plan.turn_id,
            turn_index=0,
            user_text=self.plan.user_text,
            assistant_text=answer,
            outcome=outcome,
            timings=replace(self.timings),
            start_time=self.start_time,
            citations=generation.citations if generation else (),
            llm_time_to_first_token_ms=generation.time_to_first_token_ms if generation else 0,
            upstream_outcomes={stage: s.outcome for stage, s in self.streams.items()},
        )

    async def _llm_stage(self, to_tts: asyncio.Queue[str | None] | None) -> None:
        with self.trace.stage("llm"):
            await self._llm(to_tts)

    async def _llm(self, to_tts: asyncio.Queue[str | None] | None) -> None:
        stream = await self._clients.llm.generate(self.plan.generation)
        self.streams["llm"] = stream
        async for item in stream:
            if isinstance(item, TokenText):
                now = self._clock.now_us()
                self.timings.mark("first_token", now)
                self.timings.last_token_us = max(now, 1)
                self._state.answer.append(item.text)
                await self._emit(AssistantTextOut(self.plan.turn_id, item.text))
                if to_tts is not None:
                    await to_tts.put(item.text)
            else:
                self._state.generation = item
        if to_tts is not None:
            await to_tts.put(None)  # half-close: TTS speaks what is left, then ends

    async def _tts_stage(
        self,
        voice: VoiceSettings,
        text: asyncio.Queue[str | None],
        audio_out: asyncio.Queue[bytes | None],
    ) -> None:
        with self.trace.stage("tts"):
            await self._tts(voice, text, audio_out)

    async def _tts(
        self,
        voice: VoiceSettings,
        text: asyncio.Queue[str | None],
        audio_out: asyncio.Queue[bytes | None],
    ) -> None:
        # Read TTS as fast as it speaks (into a queue that holds a whole answer): each
        # segment's mark comes after its audio, and barge-in needs the marks of what is playing.
        stream = await self._clients.tts.synthesize(voice, _drain(text))
        self.streams["tts"] = stream
        async for item in stream:
            if isinstance(item, SpeechAudio):
                self.timings.mark("first_audio", self._clock.now_us())
                await audio_out.put(item.data)
            else:
                self._state.segments.append(item)
        await audio_out.put(None)

    async def _speaker_stage(self, sample_rate_hz: int, audio: asyncio.Queue[bytes | None]) -> None:
        """Audio-only output: TTS audio to the client, paced."""
        with self.trace.stage("speaker"):
            await self._speaker(sample_rate_hz, audio)

    async def _speaker(self, sample_rate_hz: int, audio: asyncio.Queue[bytes | None]) -> None:
        samples = 0
        while (data := await audio.get()) is not None:
            # Our own sample count is the turn's timeline, the one TTS marks are on.
            local_us = samples * 1_000_000 // sample_rate_hz
            samples += len(data) // 2
            await self.tracker.pace(local_us)
            self.tracker.queued()
            await self._emit(
                AudioOut(
                    self.plan.turn_id, data, self._media_pts(local_us), sample_rate_hz, self.tracker
                )
            )

    async def _lipsync_stage(
        self, video: AnimationSettings, audio: asyncio.Queue[bytes | None]
    ) -> None:
        with self.trace.stage("lipsync"):
            await self._lipsync(video, audio)

    async def _lipsync(self, video: AnimationSettings, audio: asyncio.Queue[bytes | None]) -> None:
        stream = await self._clients.lipsync.animate(video, _drain(audio))
        self.streams["lipsync"] = stream
        async for frame in stream:
            self.timings.mark("first_frame", self._clock.now_us())
            await self.tracker.pace(frame.pts_us)
            self.tracker.queued()
            await self._emit(
                FrameOut(self.plan.turn_id, frame, self._media_pts(frame.pts_us), self.tracker)
            )

    def _media_pts(self, local_us: int) -> int:
        if self._media_base_us is None:
            self._media_base_us = self._media.begin(self._clock.now_us())
        return self._media_base_us + local_us


def _current_span_links() -> list[Link]:
    caller = trace.get_current_span().get_span_context()
    return [Link(caller, {"vtutor.link": "caller"})] if caller.is_valid else []


async def _drain(queue: asyncio.Queue[str | None] | asyncio.Queue[bytes | None]) -> AsyncIterator:  # type: ignore[type-arg]
    while (item := await queue.get()) is not None:
        yield item


def _first_error(group: BaseExceptionGroup) -> BaseException:  # type: ignore[type-arg]
    """The error a failed turn reports: the first upstream failure, else an internal error."""
    leaves: list[BaseException] = []

    def collect(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                collect(inner)
        else:
            leaves.append(exc)

    collect(group)
    for exc in leaves:
        if isinstance(exc, UpstreamError):
            return exc
    for exc in leaves:
        if isinstance(exc, asyncio.CancelledError):
            return exc
    logger.error("turn stage failed", exc_info=leaves[0] if leaves else None)
    return UpstreamError("gateway", grpc.StatusCode.INTERNAL, "internal error (see the log)")
