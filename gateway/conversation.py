"""A live Converse stream: the long-lived ASR stream, turns, barge-in, and the output queue."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import grpc

from gateway import metrics
from gateway.config import GatewaySettings
from gateway.events import (
    AssistantTextOut,
    AudioOut,
    ConverseEvent,
    ErrorOut,
    FrameOut,
    SessionOpened,
    TranscriptOut,
    TurnEventOut,
)
from gateway.sessions import Session, SessionRegistry, SessionState
from gateway.stream_clock import StreamClock
from gateway.tracing import ConversationTracing
from gateway.turn_pipeline import MediaTimeline, SpeechPlan, TurnPipeline, TurnPlan
from gateway.turn_records import TurnOutcome, TurnTimings
from gateway.upstream.asr_client import RecognitionSettings, RecognizedText, SpeechActivity
from gateway.upstream.channels import UpstreamError
from gateway.upstream.clients import UpstreamClients
from gateway.upstream.lipsync_client import AnimationSettings
from gateway.upstream.llm_client import ChatMessage, GenerationRequest
from gateway.upstream.tts_client import VoiceSettings
from svc_core.audio import check_pcm_chunk

logger = logging.getLogger(__name__)

# Input audio waiting for ASR: about 10 s of 20 ms chunks. Past it (ASR stalled or down) audio
# is dropped rather than stalling the stream, which also carries text and interrupts.
ASR_QUEUE_CHUNKS = 500
# After an ASR stream fails, wait this long before opening another.
ASR_RETRY_S = 1.0
_INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]


@dataclass(frozen=True)
class AudioIn:
    """Student audio (PCM s16le mono at the stream's input rate)."""

    data: bytes


@dataclass(frozen=True)
class TextIn:
    """A typed message."""

    text: str


@dataclass(frozen=True)
class InterruptIn:
    """The student asked the tutor to stop."""


ClientInput = AudioIn | TextIn | InterruptIn


@dataclass(frozen=True)
class ConverseOptions:
    """What the client asked for in its config."""

    input_sample_rate_hz: int
    output_sample_rate_hz: int
    send_text: bool
    send_audio: bool
    send_video: bool
    interim_transcripts: bool
    fps: int = 25
    pixel_format: int = 0
    width: int = 0
    height: int = 0


@dataclass
class _AsrRun:
    queue: asyncio.Queue[bytes | None]
    base_ms: float
    task: asyncio.Task[None] | None = None


@dataclass
class _RunningTurn:
    pipeline: TurnPipeline
    task: asyncio.Task[None]


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
        self._clients = clients
        self._registry = registry
        self._settings = settings
        self._out: asyncio.Queue[ConverseEvent | None] = asyncio.Queue(settings.output_queue_size)
        self._failure: BaseException | None = None
        self._turn: _RunningTurn | None = None
        self._turn_lock = asyncio.Lock()
        self._dead_turns: set[str] = set()
        self._media = MediaTimeline()
        self._asr: _AsrRun | None = None
        self._asr_retry_at = 0.0
        self._asr_outage_reported = False
        self._received_samples = 0
        # (input audio ms at the end of a chunk, when it arrived): maps ASR offsets to stream time.
        self._arrivals: deque[tuple[float, float]] = deque(maxlen=3000)
        self._barge_in_from_ms: float | None = None
        self._speech_ended_us = 0
        self._dropped_chunks = 0

    @property
    def current_turn(self) -> TurnPipeline | None:
        """The turn in progress, if any."""
        return self._turn.pipeline if self._turn else None

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
                    await self._on_audio(item.data)
                elif isinstance(item, TextIn):
                    await self._on_text(item.text)
                else:
                    await self._interrupt("interrupt message")
            # Half-close: finish the utterance in progress, then the turn it may start.
            if self._asr is not None:
                with contextlib.suppress(asyncio.QueueFull):
                    self._asr.queue.put_nowait(None)
                if self._asr.task is not None:
                    await self._asr.task
            while self._turn is not None:
                # wait() rather than await: an interrupted turn's cancellation is not ours.
                await asyncio.wait([self._turn.task])
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
        await self._start_turn(text, end_of_speech_us=0)

    async def _on_audio(self, data: bytes) -> None:
        check_pcm_chunk(data)
        rate = self.options.input_sample_rate_hz
        start_ms = self._received_samples * 1000 / rate
        self._received_samples += len(data) // 2
        end_ms = self._received_samples * 1000 / rate
        self._arrivals.append((end_ms, time.monotonic()))
        run = self._asr
        if run is None or (run.task is not None and run.task.done()):
            if time.monotonic() < self._asr_retry_at:
                return
            run = self._asr = self._start_asr(start_ms)
        try:
            run.queue.put_nowait(data)
        except asyncio.QueueFull:
            self._dropped_chunks += 1
            if self._dropped_chunks % 100 == 1:
                logger.warning(
                    "ASR is not keeping up: dropped %d audio chunks", self._dropped_chunks
                )
        await self._check_barge_in(end_ms)

    # ASR -------------------------------------------------------------------------------------

    def _start_asr(self, base_ms: float) -> _AsrRun:
        run = _AsrRun(queue=asyncio.Queue(ASR_QUEUE_CHUNKS), base_ms=base_ms)
        run.task = asyncio.create_task(self._asr_loop(run))
        return run

    async def _asr_loop(self, run: _AsrRun) -> None:
        tutor = self.session.tutor
        settings = RecognitionSettings(
            sample_rate_hz=self.options.input_sample_rate_hz,
            language_code=tutor.language_code,
            interim_results=self.options.interim_transcripts,
            phrase_hints=tutor.phrase_hints,
        )

        async def audio() -> AsyncIterator[bytes]:
            while (chunk := await run.queue.get()) is not None:
                yield chunk

        try:
            with self.tracing.asr_stream():  # it joins the next spoken turn's trace
                stream = await self._clients.asr.recognize(settings, audio())
            async for event in stream:
                self._asr_outage_reported = False
                if isinstance(event, SpeechActivity):
                    await self._on_speech_activity(event, run.base_ms)
                else:
                    await self._on_recognized(event, run.base_ms)
        except UpstreamError as exc:
            self._asr_retry_at = time.monotonic() + ASR_RETRY_S
            logger.warning("ASR stream failed: %s", exc)
            if not self._asr_outage_reported:
                self._asr_outage_reported = True
                await self._emit(ErrorOut(exc.code.value[0], exc.detail, "asr"))

    async def _on_speech_activity(self, event: SpeechActivity, base_ms: float) -> None:
        offset_ms = base_ms + event.offset_ms
        await self._emit(SpeechActivity(event.started, int(offset_ms), event.utterance_index))
        if event.started:
            if self._turn is not None:
                self._barge_in_from_ms = offset_ms
                await self._check_barge_in(self._received_samples * 1000 / self._rate)
        else:
            self._barge_in_from_ms = None
            self._speech_ended_us = self._arrival_us(offset_ms)

    async def _on_recognized(self, result: RecognizedText, base_ms: float) -> None:
        start_ms = int(base_ms + result.utterance_start_ms)
        if not result.is_final:
            if self.options.interim_transcripts and result.text:
                await self._emit(TranscriptOut(result.text, False, "", start_ms, 0))
            return
        text = result.text.strip()
        end_ms = int(base_ms + result.utterance_end_ms)
        final = TranscriptOut(text, True, "", start_ms, end_ms)
        words = len(text.split())
        if not text or (self._turn is not None and words < self._settings.false_start_min_words):
            # Nothing said, or a short backchannel over the tutor: no new turn.
            await self._emit(final)
            return
        end_of_speech_us = self._speech_ended_us or self._arrival_us(end_ms)
        self._speech_ended_us = 0
        await self._start_turn(text, end_of_speech_us=end_of_speech_us, transcript=final)

    async def _check_barge_in(self, received_ms: float) -> None:
        start = self._barge_in_from_ms
        if start is None or self._turn is None:
            return
        if received_ms - start >= self._settings.false_start_guard_ms:
            self._barge_in_from_ms = None
            await self._interrupt("barge-in")

    def _arrival_us(self, offset_ms: float) -> int:
        for end_ms, arrived in self._arrivals:
            if end_ms >= offset_ms:
                return self.clock.us_at(arrived)
        return self.clock.now_us()

    @property
    def _rate(self) -> int:
        return self.options.input_sample_rate_hz

    # Turns -----------------------------------------------------------------------------------

    async def _start_turn(
        self, text: str, *, end_of_speech_us: int, transcript: TranscriptOut | None = None
    ) -> None:
        async with self._turn_lock:
            if self._turn is not None:
                await self._interrupt_locked("new question")
            turn_id = uuid.uuid4().hex
            now = self.clock.now_us()
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
                clock=self.clock,
                timings=timings,
                emit=self._emit,
                media=self._media,
                output_sample_rate_hz=self.options.output_sample_rate_hz,
                trace=self.tracing.start_turn(
                    turn_id, spoken=transcript is not None, start_us=end_of_speech_us or now
                ),
            )
            await self._emit(TurnEventOut(turn_id, "started", replace(timings)))
            task = asyncio.create_task(self._run_turn(pipeline))
            self._turn = _RunningTurn(pipeline, task)

    def _plan(self, turn_id: str, text: str) -> TurnPlan:
        tutor = self.session.tutor
        messages: list[ChatMessage] = []
        if tutor.system_prompt:
            messages.append(ChatMessage("system", tutor.system_prompt))
        messages.extend(self.session.history(self._settings.max_history_turns))
        messages.append(ChatMessage("user", text))
        speech = None
        if self.options.send_audio or self.options.send_video:
            rate = self.options.output_sample_rate_hz
            video = None
            if self.options.send_video:
                video = AnimationSettings(
                    sample_rate_hz=rate,
                    avatar_id=tutor.avatar_id,
                    fps=self.options.fps,
                    pixel_format=self.options.pixel_format,
                    width=self.options.width,
                    height=self.options.height,
                )
            speech = SpeechPlan(
                VoiceSettings(rate, voice=tutor.voice, language_code=tutor.language_code), video
            )
        return TurnPlan(
            turn_id=turn_id,
            user_text=text,
            generation=GenerationRequest(
                messages=tuple(messages),
                model=tutor.llm_model,
                knowledge_base_id=tutor.knowledge_base_id,
            ),
            speech=speech,
        )

    async def _run_turn(self, pipeline: TurnPipeline) -> None:
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
        await self._registry.add_turn(self.session, record)
        kind = "completed" if outcome is TurnOutcome.COMPLETED else "failed"
        await self._emit(TurnEventOut(pipeline.turn_id, kind, record.timings, record))

    async def _interrupt(self, reason: str) -> None:
        async with self._turn_lock:
            await self._interrupt_locked(reason)

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
        await self._registry.add_turn(self.session, record)
        await self._emit(TurnEventOut(record.turn_id, "interrupted", record.timings, record))

    # Output ----------------------------------------------------------------------------------

    async def _emit(self, event: ConverseEvent) -> None:
        if isinstance(event, ErrorOut):
            metrics.record_error(event.stage, event.code)
        await self._out.put(event)

    def _is_dead(self, event: ConverseEvent) -> bool:
        if isinstance(event, AssistantTextOut | AudioOut | FrameOut):
            return event.turn_id in self._dead_turns
        return False

    async def _watch_session(self) -> None:
        await self.session.closed.wait()
        state = self.session.state
        message = (
            "the session has expired" if state is SessionState.EXPIRED else "the session has ended"
        )
        if self._turn is not None:
            self._dead_turns.add(self._turn.pipeline.turn_id)
            self._turn.task.cancel()
        # The queue may be full of media nobody will play; make room for the last words.
        while not self._out.empty():
            self._out.get_nowait()
        self._out.put_nowait(
            ErrorOut(grpc.StatusCode.FAILED_PRECONDITION.value[0], message, "gateway")
        )
        self._out.put_nowait(None)

    async def _shutdown(self, *tasks: asyncio.Task[None]) -> None:
        running = self._turn
        self._turn = None
        owned = [*tasks]
        if running is not None:
            owned.append(running.task)
        if self._asr is not None and self._asr.task is not None:
            owned.append(self._asr.task)
        for task in owned:
            task.cancel()
        for task in owned:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if running is not None and running.pipeline.turn_id not in self._dead_turns:
            # The client went away mid-turn: keep what it heard.
            record = running.pipeline.finish(TurnOutcome.INTERRUPTED)
            await self._registry.add_turn(self.session, record)
        self.tracing.close()
        self._registry.disconnect(self.session)
