"""The student's audio: the long-lived ASR stream, speech activity and barge-in detection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from gateway.config import GatewaySettings
from gateway.converse_inputs import ConverseOptions
from gateway.events import ErrorOut, TranscriptOut
from gateway.sessions import Session
from gateway.stream_clock import StreamClock
from gateway.tracing import ConversationTracing
from gateway.turn_pipeline import Emit
from gateway.turn_runner import TurnRunner
from gateway.upstream.asr_client import RecognitionSettings, RecognizedText, SpeechActivity
from gateway.upstream.channels import UpstreamError
from gateway.upstream.clients import UpstreamClients
from svc_core.audio import check_pcm_chunk

logger = logging.getLogger(__name__)

# Input audio waiting for ASR: about 10 s of 20 ms chunks. Past it (ASR stalled or down) audio
# is dropped rather than stalling the stream, which also carries text and interrupts.
ASR_QUEUE_CHUNKS = 500
# After an ASR stream fails, wait this long before opening another.
ASR_RETRY_S = 1.0


@dataclass
class _AsrRun:
    queue: asyncio.Queue[bytes | None]
    base_ms: float
    task: asyncio.Task[None] | None = None


class SpeechInput:
    """Feeds a stream's audio to ASR, starts turns from final transcripts, detects barge-in.

    Args:
        session: The session (its tutor's language and phrase hints).
        options: The stream's config.
        clients: Upstream clients.
        settings: Gateway settings.
        clock: The stream's clock.
        tracing: The stream's tracing (the ASR stream joins the next spoken turn's trace).
        turns: The stream's turns, started and interrupted from here.
        emit: Sends an event towards the client.
    """

    def __init__(
        self,
        session: Session,
        options: ConverseOptions,
        *,
        clients: UpstreamClients,
        settings: GatewaySettings,
        clock: StreamClock,
        tracing: ConversationTracing,
        turns: TurnRunner,
        emit: Emit,
    ) -> None:
        self._session = session
        self._options = options
        self._clients = clients
        self._settings = settings
        self._clock = clock
        self._tracing = tracing
        self._turns = turns
        self._emit = emit
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
    def task(self) -> asyncio.Task[None] | None:
        """The task running the current ASR stream, if any."""
        return self._asr.task if self._asr is not None else None

    async def on_audio(self, data: bytes) -> None:
        """Takes a chunk of the student's audio, (re)opening the ASR stream when needed.

        Raises:
            ServiceError: The chunk is not whole s16le samples, or is too large.
        """
        check_pcm_chunk(data)
        rate = self._options.input_sample_rate_hz
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

    async def finish(self) -> None:
        """Ends the audio and waits for ASR to finish the utterance in progress (half-close)."""
        if self._asr is not None:
            with contextlib.suppress(asyncio.QueueFull):
                self._asr.queue.put_nowait(None)
            if self._asr.task is not None:
                await self._asr.task

    def _start_asr(self, base_ms: float) -> _AsrRun:
        run = _AsrRun(queue=asyncio.Queue(ASR_QUEUE_CHUNKS), base_ms=base_ms)
        run.task = asyncio.create_task(self._asr_loop(run))
        return run

    async def _asr_loop(self, run: _AsrRun) -> None:
        tutor = self._session.tutor
        settings = RecognitionSettings(
            sample_rate_hz=self._options.input_sample_rate_hz,
            language_code=tutor.language_code,
            interim_results=self._options.interim_transcripts,
            phrase_hints=tutor.phrase_hints,
        )

        async def audio() -> AsyncIterator[bytes]:
            while (chunk := await run.queue.get()) is not None:
                yield chunk

        try:
            with self._tracing.asr_stream():  # it joins the next spoken turn's trace
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
            if self._turns.running is not None:
                self._barge_in_from_ms = offset_ms
                await self._check_barge_in(self._received_samples * 1000 / self._rate)
        else:
            self._barge_in_from_ms = None
            self._speech_ended_us = self._arrival_us(offset_ms)

    async def _on_recognized(self, result: RecognizedText, base_ms: float) -> None:
        start_ms = int(base_ms + result.utterance_start_ms)
        if not result.is_final:
            if self._options.interim_transcripts and result.text:
                await self._emit(TranscriptOut(result.text, False, "", start_ms, 0))
            return
        text = result.text.strip()
        end_ms = int(base_ms + result.utterance_end_ms)
        final = TranscriptOut(text, True, "", start_ms, end_ms)
        words = len(text.split())
        if not text or (
            self._turns.running is not None and words < self._settings.false_start_min_words
        ):
            # Nothing said, or a short backchannel over the tutor: no new turn.
            await self._emit(final)
            return
        end_of_speech_us = self._speech_ended_us or self._arrival_us(end_ms)
        self._speech_ended_us = 0
        await self._turns.start(text, end_of_speech_us=end_of_speech_us, transcript=final)

    async def _check_barge_in(self, received_ms: float) -> None:
        start = self._barge_in_from_ms
        if start is None or self._turns.running is None:
            return
        if received_ms - start >= self._settings.false_start_guard_ms:
            self._barge_in_from_ms = None
            await self._turns.interrupt("barge-in")

    def _arrival_us(self, offset_ms: float) -> int:
        for end_ms, arrived in self._arrivals:
            if end_ms >= offset_ms:
                return self._clock.us_at(arrived)
        return self._clock.now_us()

    @property
    def _rate(self) -> int:
        return self._options.input_sample_rate_hz
