"""Client of tts_svc: text in as it is generated, audio and segment timings out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from vtutor.common.v1 import media_pb2
from vtutor.tts.v1 import tts_pb2, tts_pb2_grpc

from gateway.upstream.channels import ResponseStream, Upstream


@dataclass(frozen=True)
class VoiceSettings:
    """How the tutor's answer is to be spoken."""

    sample_rate_hz: int
    voice: str = ""
    language_code: str = ""


@dataclass(frozen=True)
class SpeechAudio:
    """A chunk of synthesized PCM s16le; ``pts_us`` on the TTS stream's output timeline."""

    data: bytes
    pts_us: int
    sample_rate_hz: int


@dataclass(frozen=True)
class SpokenWord:
    """A word and when it is spoken, in ms of the TTS output timeline."""

    word: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class SpokenSegment:
    """A sentence or clause whose audio has all been sent, with its word timings."""

    index: int
    text: str
    start_ms: int
    end_ms: int
    words: tuple[SpokenWord, ...] = ()


def _value(message: tts_pb2.StreamingSynthesizeResponse) -> SpeechAudio | SpokenSegment | None:
    kind = message.WhichOneof("response")
    if kind == "audio":
        audio = message.audio
        if not audio.data:
            return None
        return SpeechAudio(audio.data, audio.pts_us, audio.sample_rate_hz)
    if kind == "mark":
        mark = message.mark
        return SpokenSegment(
            index=mark.segment_index,
            text=mark.text,
            start_ms=mark.start_ms,
            end_ms=mark.end_ms,
            words=tuple(SpokenWord(w.word, w.start_ms, w.end_ms) for w in mark.words),
        )
    return None


class TtsClient(Upstream):
    """Calls tts_svc."""

    stage = "tts"

    @property
    def stub(self) -> tts_pb2_grpc.TtsServiceStub:
        """The generated stub (admin pass-through uses it directly)."""
        return tts_pb2_grpc.TtsServiceStub(self.channel)

    async def synthesize(
        self, settings: VoiceSettings, text: AsyncIterator[str]
    ) -> ResponseStream[SpeechAudio | SpokenSegment]:
        """Starts speaking ``text`` piece by piece; the stream ends after ``text`` ends."""
        await self.ensure_ready()
        config = tts_pb2.SynthesisConfig(
            voice=settings.voice,
            output_format=media_pb2.AudioFormat(
                encoding=media_pb2.AUDIO_ENCODING_PCM_S16LE,
                sample_rate_hz=settings.sample_rate_hz,
                channels=1,
            ),
            language_code=settings.language_code,
        )

        async def requests() -> AsyncIterator[tts_pb2.StreamingSynthesizeRequest]:
            yield tts_pb2.StreamingSynthesizeRequest(config=config)
            async for piece in text:
                yield tts_pb2.StreamingSynthesizeRequest(text=piece)

        call = self.stub.StreamingSynthesize(requests(), timeout=self.settings.turn_timeout_s)
        return ResponseStream(
            self.stage,
            call,
            _value,
            first_timeout_s=None,  # the first audio waits for the LLM's first clause
            what="audio",
        )
