"""In-memory fakes of the gateway's four upstream clients (test doubles at the network edge).

They stand where ``gateway.upstream.*_client`` stand: same method names, the same plain values
out, an ``outcome`` on each stream ("completed", "failed", "cancelled") as ResponseStream has.
No processes, no sockets: the conversation logic is tested on its own, in milliseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc

from gateway.upstream.asr_client import AsrEvent, RecognitionSettings
from gateway.upstream.channels import UpstreamError
from gateway.upstream.clients import UpstreamClients
from gateway.upstream.lipsync_client import AnimatedFrame, AnimationSettings
from gateway.upstream.llm_client import GenerationRequest, GenerationResult, TokenText
from gateway.upstream.tts_client import SpeechAudio, SpokenSegment, SpokenWord, VoiceSettings

WORD_MS = 100  # every word the fake TTS speaks lasts this long
CHUNK_MS = 20


class FakeStream:
    """One call's responses, with how the call ended."""

    def __init__(self, stage: str, items: AsyncIterator[Any]) -> None:
        self.stage = stage
        self.outcome = "open"
        self._items = items

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        try:
            async for item in self._items:
                yield item
            self.outcome = "completed"
        except UpstreamError:
            self.outcome = "failed"
            raise
        finally:
            if self.outcome == "open":
                self.outcome = "cancelled"


def unavailable(stage: str) -> UpstreamError:
    """The error a fake raises when told to fail."""
    return UpstreamError(stage, grpc.StatusCode.UNAVAILABLE, f"{stage} fell over")


@dataclass
class FakeLlm:
    """Streams ``answer`` word by word (``delay_s`` before each); ``fail_after`` tokens then
    fails when set. ``answers`` maps a question (the last message) to its own answer. Keeps
    every request."""

    answer: str = "Plants use sunlight to make sugar. They also need water and air."
    delay_s: float = 0.002
    first_delay_s: float = 0.0
    fail_after: int | None = None
    answers: dict[str, str] = field(default_factory=dict)
    requests: list[GenerationRequest] = field(default_factory=list)
    streams: list[FakeStream] = field(default_factory=list)

    async def generate(self, request: GenerationRequest) -> FakeStream:
        self.requests.append(request)
        question = request.messages[-1].content if request.messages else ""
        answer = self.answers.get(question, self.answer)

        async def tokens() -> AsyncIterator[TokenText | GenerationResult]:
            await asyncio.sleep(self.first_delay_s)
            for index, word in enumerate(answer.split(" ")):
                if self.fail_after is not None and index >= self.fail_after:
                    raise unavailable("llm")
                await asyncio.sleep(self.delay_s)
                yield TokenText(word if index == 0 else " " + word)
            yield GenerationResult(finish_reason="stop", model="fake", time_to_first_token_ms=1)

        stream = FakeStream("llm", tokens())
        self.streams.append(stream)
        return stream


@dataclass
class FakeTts:
    """Speaks each sentence once it is complete: ``WORD_MS`` of audio per word, then the
    sentence's mark with word timings. ``fail_after`` sentences then fails when set."""

    fail_after: int | None = None
    streams: list[FakeStream] = field(default_factory=list)

    async def synthesize(self, voice: VoiceSettings, text: AsyncIterator[str]) -> FakeStream:
        rate = voice.sample_rate_hz

        async def speech() -> AsyncIterator[SpeechAudio | SpokenSegment]:
            pending = ""
            index = 0
            at_ms = 0
            async for piece in text:
                pending += piece
                while "." in pending:
                    sentence, pending = pending.split(".", 1)
                    async for item in speak(sentence + ".", index, at_ms):
                        yield item
                    at_ms += len(sentence.split()) * WORD_MS
                    index += 1
            if pending.strip():
                async for item in speak(pending, index, at_ms):
                    yield item

        async def speak(
            sentence: str, index: int, start_ms: int
        ) -> AsyncIterator[SpeechAudio | SpokenSegment]:
            if self.fail_after is not None and index >= self.fail_after:
                raise unavailable("tts")
            words = []
            at_ms = start_ms
            for word in sentence.split():
                for _ in range(WORD_MS // CHUNK_MS):
                    samples = rate * CHUNK_MS // 1000
                    yield SpeechAudio(b"\x01\x00" * samples, at_ms * 1000, rate)
                    await asyncio.sleep(0)
                words.append(SpokenWord(word.strip(".,"), at_ms, at_ms + WORD_MS))
                at_ms += WORD_MS
            yield SpokenSegment(index, sentence.strip(), start_ms, at_ms, tuple(words))

        stream = FakeStream("tts", speech())
        self.streams.append(stream)
        return stream


@dataclass
class FakeLipsync:
    """One frame per 1/fps of audio, carrying exactly that audio; ``fail_after`` frames then
    fails when set."""

    fail_after: int | None = None
    streams: list[FakeStream] = field(default_factory=list)
    settings: list[AnimationSettings] = field(default_factory=list)

    async def animate(self, settings: AnimationSettings, audio: AsyncIterator[bytes]) -> FakeStream:
        self.settings.append(settings)
        rate = settings.sample_rate_hz
        frame_bytes = rate // settings.fps * 2

        async def frames() -> AsyncIterator[AnimatedFrame]:
            buffer = b""
            index = 0

            def frame(data: bytes) -> AnimatedFrame:
                return AnimatedFrame(
                    index=index,
                    width=8,
                    height=8,
                    pixel_format=settings.pixel_format,
                    image=b"\x80" * 96,
                    audio=data,
                    pts_us=index * 1_000_000 // settings.fps,
                    sample_rate_hz=rate,
                )

            async for chunk in audio:
                buffer += chunk
                while len(buffer) >= frame_bytes:
                    if self.fail_after is not None and index >= self.fail_after:
                        raise unavailable("lipsync")
                    yield frame(buffer[:frame_bytes])
                    buffer = buffer[frame_bytes:]
                    index += 1
            if buffer:
                yield frame(buffer.ljust(frame_bytes, b"\x00"))

        stream = FakeStream("lipsync", frames())
        self.streams.append(stream)
        return stream


class FakeAsr:
    """Reads the audio it is given and reports what the test scripts with ``say``.

    Its stream ends when the audio does (the client half-closed), after what was scripted.
    ``fail`` makes the next stream fail at once.
    """

    def __init__(self) -> None:
        self._events: asyncio.Queue[AsrEvent | None] = asyncio.Queue()
        self.fail = False
        self.settings: list[RecognitionSettings] = []

    async def say(self, *events: AsrEvent) -> None:
        """Reports these events on the open stream, in order."""
        for event in events:
            await self._events.put(event)
        await asyncio.sleep(0.01)  # let the gateway take them

    async def recognize(
        self, settings: RecognitionSettings, audio: AsyncIterator[bytes]
    ) -> FakeStream:
        self.settings.append(settings)
        if self.fail:
            self.fail = False
            raise unavailable("asr")

        async def read_audio() -> None:
            async for _ in audio:
                pass
            await self._events.put(None)

        async def events() -> AsyncIterator[AsrEvent]:
            reader = asyncio.create_task(read_audio())
            try:
                while (event := await self._events.get()) is not None:
                    yield event
            finally:
                reader.cancel()

        return FakeStream("asr", events())


@dataclass
class FakeUpstreams:
    """The four fakes, and the UpstreamClients the gateway is given."""

    asr: FakeAsr = field(default_factory=FakeAsr)
    llm: FakeLlm = field(default_factory=FakeLlm)
    tts: FakeTts = field(default_factory=FakeTts)
    lipsync: FakeLipsync = field(default_factory=FakeLipsync)

    @property
    def clients(self) -> UpstreamClients:
        return UpstreamClients(
            asr=self.asr,  # type: ignore[arg-type]
            llm=self.llm,  # type: ignore[arg-type]
            tts=self.tts,  # type: ignore[arg-type]
            lipsync=self.lipsync,  # type: ignore[arg-type]
        )
