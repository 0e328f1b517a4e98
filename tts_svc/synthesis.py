"""One StreamingSynthesize call as plain Python: text pieces in, timed audio and marks out.

Text is read by its own task into the segmenter, so segments keep being cut while earlier
ones are spoken; segments are spoken in order, and each one's audio goes out as the engine
produces it, resampled to the requested rate and cut into fixed-size chunks on a timeline
that is continuous across segments. After a segment's audio comes its mark.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass

from svc_core.audio import PcmFramer, StreamResampler
from svc_core.errors import NotFound, Unavailable
from tts_svc.engines.base import (
    SpeechAudio,
    TtsEngine,
    Viseme,
    VisemeSpan,
    VoiceSettings,
    WordSpan,
)
from tts_svc.segmenter import TextSegmenter

logger = logging.getLogger(__name__)


class Flush:
    """Input marker: speak everything received so far."""


FLUSH = Flush()
TextInput = str | Flush


@dataclass(frozen=True)
class AudioOut:
    """A chunk of output audio; ``pts_us`` on the stream's output timeline."""

    pcm: bytes
    pts_us: int
    sample_rate: int


@dataclass(frozen=True)
class TimedWord:
    """A word on the output timeline (ms)."""

    word: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class TimedViseme:
    """A mouth shape on the output timeline (ms)."""

    viseme: Viseme
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class SegmentOut:
    """A spoken segment, sent after all of its audio."""

    index: int
    text: str
    start_ms: int
    end_ms: int
    words: list[TimedWord]
    visemes: list[TimedViseme]


@dataclass(frozen=True)
class FallbackEngine:
    """The engine that takes over a stream when its own becomes UNAVAILABLE."""

    engine: TtsEngine
    language_code: str = ""


_END = object()
_WAKE = object()
# A segment is spoken without urgency while the stream's audio so far is at least this far
# ahead of its listener (counted as if playback began with the first audio: never later).
RELAXED_AHEAD_S = 1.0


class SynthesisStream:
    """Speaks the text of one call.

    Args:
        engine: The engine to speak with.
        voice: The resolved voice and speaking rate.
        sample_rate: Output rate in Hz.
        chunk_ms: Duration of every output chunk (the last of a segment is padded with
            silence, so chunks never straddle segments).
        segmenter: Cuts the incoming text.
        fallback: Takes over when ``engine`` is unavailable before a segment produced audio.
        max_pending_segments: Segments cut but not yet spoken before reading text waits
            (back-pressure on a client that sends text much faster than it is spoken).
        playout_lead_s: Synthesis pauses while the audio so far is more than this far ahead
            of its listener, and resumes as the listener plays it (0: as fast as the engine
            goes). An answer is then made as it is played, not all at once when it arrives:
            on a busy host the CPU it would take in that burst goes to recognition and to
            other answers' first audio; a cancelled call has made only what it played.
    """

    def __init__(
        self,
        engine: TtsEngine,
        voice: VoiceSettings,
        *,
        sample_rate: int,
        chunk_ms: int,
        segmenter: TextSegmenter,
        fallback: FallbackEngine | None = None,
        max_pending_segments: int = 32,
        playout_lead_s: float = 0.0,
    ) -> None:
        if playout_lead_s < 0:
            raise ValueError("playout_lead_s must not be negative")
        self.engine = engine
        self.voice = voice
        self.sample_rate = sample_rate
        self.chunk_samples = sample_rate * chunk_ms // 1000
        self._segmenter = segmenter
        self._fallback = fallback
        self._segments: asyncio.Queue[object] = asyncio.Queue(max_pending_segments)
        self._reader_error: BaseException | None = None
        self._position = 0  # output samples before the segment being spoken
        self._made = 0  # output samples sent so far
        self._first_audio_at: float | None = None  # when the stream's first audio went out
        self._lead_s = playout_lead_s

    async def run(self, inputs: AsyncIterator[TextInput]) -> AsyncIterator[AudioOut | SegmentOut]:
        """Yields audio chunks and marks until the input ends and everything is spoken.

        Raises:
            ServiceError: From reading the input (bad message) or from the engine.
        """
        reader = asyncio.create_task(self._read(inputs))
        try:
            index = 0
            while True:
                self._raise_reader_error()
                item = await self._segments.get()
                if item is _END:
                    break
                if item is _WAKE:
                    continue
                async with aclosing(self._speak(index, str(item))) as outputs:
                    async for output in outputs:
                        yield output
                        self._raise_reader_error()
                index += 1
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    def _raise_reader_error(self) -> None:
        if self._reader_error is not None:
            raise self._reader_error

    async def _read(self, inputs: AsyncIterator[TextInput]) -> None:
        try:
            async for item in inputs:
                if isinstance(item, Flush):
                    segments = self._segmenter.flush()
                else:
                    segments = self._segmenter.push(item)
                for segment in segments:
                    await self._segments.put(segment)
            for segment in self._segmenter.flush():
                await self._segments.put(segment)
            await self._segments.put(_END)
        except Exception as exc:
            self._reader_error = exc
            with contextlib.suppress(asyncio.QueueFull):
                self._segments.put_nowait(_WAKE)

    async def _speak(self, index: int, text: str) -> AsyncGenerator[AudioOut | SegmentOut, None]:
        while True:
            await self._keep_lead()
            renderer = SegmentRenderer(self.sample_rate, self.chunk_samples, self._position)
            words: list[WordSpan] = []
            visemes: list[VisemeSpan] = []
            try:
                ahead = self.ahead_s()
                speech = self.engine.synthesize(
                    text, self.voice, urgent=ahead < RELAXED_AHEAD_S, slack_s=max(0.0, ahead)
                )
                async with aclosing(speech) as events:
                    async for event in events:
                        if isinstance(event, SpeechAudio):
                            for chunk in renderer.add(event):
                                if self._first_audio_at is None:
                                    self._first_audio_at = time.monotonic()
                                self._made = renderer.position
                                yield chunk
                            # The engine's generator waits here: it starts no further run
                            # until the listener is within the lead.
                            await self._keep_lead()
                        elif isinstance(event, WordSpan):
                            words.append(event)
                        else:
                            visemes.append(event)
            except Unavailable as exc:
                if renderer.started or not await self._switch_to_fallback(exc):
                    raise
                continue
            break
        for chunk in renderer.finish():
            yield chunk
        self._position = self._made = renderer.position
        yield renderer.mark(index, text, words, visemes)

    def ahead_s(self) -> float:
        """How far the audio so far is ahead of its listener, at least (0 before any)."""
        if self._first_audio_at is None:
            return 0.0
        played = time.monotonic() - self._first_audio_at
        return self._made / self.sample_rate - played

    async def _keep_lead(self) -> None:
        """Waits while the audio so far is more than ``playout_lead_s`` ahead of its listener
        (no wait without a lead, or before the first audio)."""
        if not self._lead_s:
            return
        # A sleep, not an event: the listener's playout is a clock, nothing signals it.
        while (excess := self.ahead_s() - self._lead_s) > 0:  # noqa: ASYNC110
            await asyncio.sleep(excess)

    async def _switch_to_fallback(self, error: Unavailable) -> bool:
        if self._fallback is None or self._fallback.engine is self.engine:
            return False
        fallback = self._fallback.engine
        try:
            voice = await fallback.resolve_voice("", self._fallback.language_code)
        except NotFound:
            voice = fallback.default_voice
        logger.warning(
            "%s engine unavailable (%s); this stream continues with %s voice %s",
            self.engine.name,
            error.message,
            fallback.name,
            voice,
        )
        self.engine = fallback
        self.voice = VoiceSettings(voice, self.voice.speaking_rate)
        return True


class SegmentRenderer:
    """Turns one segment's engine audio into output chunks and its mark.

    Args:
        sample_rate: Output rate.
        chunk_samples: Samples per output chunk.
        start: Output samples before this segment (where its audio starts).
    """

    def __init__(self, sample_rate: int, chunk_samples: int, start: int) -> None:
        self.sample_rate = sample_rate
        self.start = start
        self.position = start
        self._framer = PcmFramer(chunk_samples)
        self._resampler: StreamResampler | None = None

    @property
    def started(self) -> bool:
        """Whether engine audio has arrived for this segment."""
        return self._resampler is not None

    def add(self, audio: SpeechAudio) -> list[AudioOut]:
        """Takes engine audio; returns the output chunks now complete."""
        if self._resampler is None:
            self._resampler = StreamResampler(audio.sample_rate, self.sample_rate)
        elif audio.sample_rate != self._resampler.from_rate:
            raise ValueError("an engine changed its sample rate within a segment")
        return self._chunks(self._framer.push(self._resampler.process(audio.pcm)))

    def finish(self) -> list[AudioOut]:
        """The rest of the segment's audio, the last chunk padded with silence."""
        frames = self._framer.push(self._resampler.flush()) if self._resampler else []
        last = self._framer.flush(pad=True)
        return self._chunks([*frames, last] if last else frames)

    def mark(
        self, index: int, text: str, words: list[WordSpan], visemes: list[VisemeSpan]
    ) -> SegmentOut:
        """The segment's mark: engine times moved onto the output timeline and kept inside
        the segment, words in order."""
        start_ms, end_ms = self._ms(self.start), self._ms(self.position)
        offset = self.start * 1000 / self.sample_rate

        def place(ms: float, floor: int) -> int:
            return max(floor, min(end_ms, round(offset + ms)))

        timed_words: list[TimedWord] = []
        floor = start_ms
        for word in sorted(words, key=lambda w: w.start_ms):
            begin = place(word.start_ms, floor)
            timed_words.append(TimedWord(word.word, begin, place(word.end_ms, begin)))
            floor = begin
        timed_visemes = []
        for span in visemes:
            begin = place(span.start_ms, start_ms)
            timed_visemes.append(TimedViseme(span.viseme, begin, place(span.end_ms, begin)))
        return SegmentOut(index, text, start_ms, end_ms, timed_words, timed_visemes)

    def _chunks(self, frames: list[bytes]) -> list[AudioOut]:
        chunks = []
        for frame in frames:
            pts_us = self.position * 1_000_000 // self.sample_rate
            chunks.append(AudioOut(frame, pts_us, self.sample_rate))
            self.position += len(frame) // 2
        return chunks

    def _ms(self, samples: int) -> int:
        return samples * 1000 // self.sample_rate
