"""The student's audio: a long-lived ASR stream whose results come out as plain speech events.

It knows nothing of turns: a coordinator consumes the events it reports (gateway.speech_events)
and decides what they mean for the tutor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from gateway.conversation_context import ConversationContext
from gateway.speech_events import (
    FinalText,
    InterimText,
    RecognitionFailed,
    SpeechEnded,
    SpeechEvent,
    SpeechStarted,
)
from gateway.upstream.asr_client import RecognitionSettings, RecognizedText, SpeechActivity
from gateway.upstream.channels import UpstreamError
from svc_core.audio import NONE_TAKEN, check_pcm_chunk, join_queued_chunks, pcm16_to_float

logger = logging.getLogger(__name__)

# Input audio waiting for ASR: about 10 s of 20 ms chunks. Past it (ASR stalled or down) audio
# is dropped rather than stalling the stream, which also carries text and interrupts.
ASR_QUEUE_CHUNKS = 500
# Chunks that queued up while the ASR stream was behind go as one message up to this size
# (well under asr_svc's 64 kB limit): the same audio, fewer writes when the gateway is busy.
ASR_MERGE_BYTES = 16 * 1024
# After an ASR stream fails, wait this long before opening another.
ASR_RETRY_S = 1.0
# Audio quieter than this (RMS, full scale 1.0; about -40 dBFS) counts as a pause. Only the
# speculation gate uses it (whether the student has paused yet); the ASR's VAD decides turns.
QUIET_RMS = 0.01

OnSpeech = Callable[[SpeechEvent], Awaitable[None]]


@dataclass
class _AsrRun:
    queue: asyncio.Queue[bytes | None]
    base_ms: float
    task: asyncio.Task[None] | None = None


class SpeechInput:
    """Feeds a stream's audio to ASR and reports what it hears.

    Args:
        context: The conversation (its tutor's language and phrase hints, options, clock).
        on_speech: Receives each speech event, in order.
        interim_results: Ask ASR for interim transcripts.
    """

    def __init__(
        self, context: ConversationContext, on_speech: OnSpeech, *, interim_results: bool
    ) -> None:
        self._context = context
        self._on_speech = on_speech
        self._interim_results = interim_results
        self._asr: _AsrRun | None = None
        self._asr_retry_at = 0.0
        self._asr_outage_reported = False
        self._received_samples = 0
        # (input audio ms at the end of a chunk, when it arrived): maps ASR offsets to stream time.
        self._arrivals: deque[tuple[float, float]] = deque(maxlen=3000)
        self._speech_ended_us = 0
        self._dropped_chunks = 0
        self._quiet_since_ms: float | None = None

    @property
    def received_ms(self) -> float:
        """Input audio received so far, in ms."""
        return self._received_samples * 1000 / self._context.options.input_sample_rate_hz

    @property
    def quiet_ms(self) -> float:
        """How long the latest audio has been quiet (a pause, as far as loudness tells), in ms."""
        if self._quiet_since_ms is None:
            return 0.0
        return self.received_ms - self._quiet_since_ms

    async def on_audio(self, data: bytes) -> None:
        """Takes a chunk of the student's audio, (re)opening the ASR stream when needed.

        Raises:
            ServiceError: The chunk is not whole s16le samples, or is too large.
        """
        check_pcm_chunk(data)
        start_ms = self.received_ms
        self._received_samples += len(data) // 2
        if data and float(np.sqrt(np.mean(pcm16_to_float(data) ** 2))) < QUIET_RMS:
            if self._quiet_since_ms is None:
                self._quiet_since_ms = start_ms
        else:
            self._quiet_since_ms = None
        self._arrivals.append((self.received_ms, time.monotonic()))
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

    async def finish(self) -> None:
        """Ends the audio and waits for ASR to report the utterance in progress (half-close)."""
        if self._asr is not None:
            with contextlib.suppress(asyncio.QueueFull):
                self._asr.queue.put_nowait(None)
            if self._asr.task is not None:
                await asyncio.wait([self._asr.task])

    async def close(self) -> None:
        """Stops the ASR stream."""
        if self._asr is not None and self._asr.task is not None:
            self._asr.task.cancel()
            await asyncio.wait([self._asr.task])

    def _start_asr(self, base_ms: float) -> _AsrRun:
        run = _AsrRun(queue=asyncio.Queue(ASR_QUEUE_CHUNKS), base_ms=base_ms)
        run.task = asyncio.create_task(self._asr_loop(run), name="asr-stream")
        return run

    async def _asr_loop(self, run: _AsrRun) -> None:
        context = self._context
        tutor = context.tutor
        settings = RecognitionSettings(
            sample_rate_hz=context.options.input_sample_rate_hz,
            language_code=tutor.language_code,
            interim_results=self._interim_results,
            phrase_hints=tutor.phrase_hints,
            knowledge_base_id=tutor.knowledge_base_id,
        )

        async def audio() -> AsyncIterator[bytes]:
            while (chunk := await run.queue.get()) is not None:
                merged, taken = join_queued_chunks(run.queue, chunk, max_bytes=ASR_MERGE_BYTES)
                yield merged
                if taken is not NONE_TAKEN:
                    return  # the only other item is the end of the audio (None)

        try:
            if context.tracing is not None:
                with context.tracing.asr_stream():  # it joins the next spoken turn's trace
                    stream = await context.clients.asr.recognize(settings, audio())
            else:
                stream = await context.clients.asr.recognize(settings, audio())
            async for event in stream:
                self._asr_outage_reported = False
                if isinstance(event, SpeechActivity):
                    await self._on_activity(event, run.base_ms)
                else:
                    await self._on_text(event, run.base_ms)
        except UpstreamError as exc:
            self._asr_retry_at = time.monotonic() + ASR_RETRY_S
            logger.warning("ASR stream failed: %s", exc)
            if not self._asr_outage_reported:
                self._asr_outage_reported = True
                await self._on_speech(RecognitionFailed(int(exc.code.value[0]), exc.detail))

    async def _on_activity(self, event: SpeechActivity, base_ms: float) -> None:
        offset_ms = base_ms + event.offset_ms
        if event.started:
            await self._on_speech(SpeechStarted(offset_ms, self.received_ms, event.utterance_index))
            return
        self._speech_ended_us = self._arrival_us(offset_ms)
        await self._on_speech(
            SpeechEnded(
                offset_ms,
                self._speech_ended_us,
                event.utterance_index,
                turn_complete=event.turn_complete,
                end_of_turn_probability=event.end_of_turn_probability,
            )
        )

    async def _on_text(self, result: RecognizedText, base_ms: float) -> None:
        start_ms = int(base_ms + result.utterance_start_ms)
        if not result.is_final:
            if result.text:
                await self._on_speech(InterimText(result.text, start_ms, result.utterance_index))
            return
        end_ms = int(base_ms + result.utterance_end_ms)
        end_of_speech_us = self._speech_ended_us or self._arrival_us(end_ms)
        self._speech_ended_us = 0
        await self._on_speech(
            FinalText(
                result.text.strip(),
                start_ms,
                end_ms,
                end_of_speech_us,
                result.utterance_index,
                confidence=result.confidence,
            )
        )

    def _arrival_us(self, offset_ms: float) -> int:
        for end_ms, arrived in self._arrivals:
            if end_ms >= offset_ms:
                return self._context.clock.us_at(arrived)
        return self._context.clock.now_us()
