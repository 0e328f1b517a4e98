"""The TtsService servicer: protobuf in and out, plain Python (SynthesisStream) in between."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from vtutor.common.v1 import media_pb2, speech_pb2
from vtutor.tts.v1 import tts_pb2, tts_pb2_grpc

from svc_core.audio import check_sample_rate
from svc_core.errors import InvalidArgument, NotFound, ResourceExhausted, Unavailable
from svc_core.server import ServiceBinding
from svc_core.streams import split_config
from tts_svc.config import TtsSettings
from tts_svc.engines import create_engine
from tts_svc.engines.base import (
    MAX_SPEAKING_RATE,
    MIN_SPEAKING_RATE,
    EngineLoadError,
    TtsEngine,
    VoiceInfo,
    VoiceSettings,
    voices_for_language,
)
from tts_svc.languages import language_of_voice
from tts_svc.segmenter import TextSegmenter
from tts_svc.synthesis import (
    FLUSH,
    AudioOut,
    FallbackEngine,
    SegmentOut,
    SynthesisStream,
    TextInput,
)

logger = logging.getLogger(__name__)

DEFAULT_SAMPLE_RATE = 16000
_PCM = (media_pb2.AUDIO_ENCODING_UNSPECIFIED, media_pb2.AUDIO_ENCODING_PCM_S16LE)


class TtsServicer(tts_pb2_grpc.TtsServiceServicer):
    """Serves vtutor.tts.v1.TtsService with an engine (and optionally a fallback engine).

    Args:
        engine: The engine chosen by TTS_ENGINE, started by the caller.
        settings: Segmenting, chunking and size limits.
        fallback: Takes over a stream whose engine is unavailable, and speaks the voices and
            languages the engine does not have (TTS_FALLBACK).
    """

    def __init__(
        self, engine: TtsEngine, settings: TtsSettings, *, fallback: TtsEngine | None = None
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.fallback = fallback

    async def StreamingSynthesize(
        self,
        request_iterator: AsyncIterator[tts_pb2.StreamingSynthesizeRequest],
        context: Any,
    ) -> AsyncIterator[tts_pb2.StreamingSynthesizeResponse]:
        config, requests = await split_config(request_iterator, oneof="streaming_request")
        sample_rate = _output_rate(config.output_format)
        speaking_rate = _speaking_rate(config.speaking_rate)
        engine, voice = await self._choose_voice(config.voice, config.language_code)
        language = config.language_code or language_of_voice(config.voice)
        stream = SynthesisStream(
            engine,
            VoiceSettings(voice, speaking_rate),
            sample_rate=sample_rate,
            chunk_ms=self.settings.chunk_ms,
            segmenter=TextSegmenter(
                min_clause_words=self.settings.min_clause_words,
                first_clause_words=self.settings.first_clause_words,
                max_segment_chars=self.settings.max_segment_chars,
            ),
            fallback=FallbackEngine(self.fallback, language) if self.fallback else None,
            playout_lead_s=self.settings.playout_lead_s,
        )
        logger.debug("stream: engine=%s voice=%s rate=%d Hz", engine.name, voice, sample_rate)
        async for output in stream.run(self._text_inputs(requests)):
            yield _response(output)

    async def ListVoices(
        self, request: tts_pb2.ListVoicesRequest, context: Any
    ) -> tts_pb2.ListVoicesResponse:
        voices: list[VoiceInfo] = []
        try:
            voices = await self.engine.list_voices()
        except Unavailable:
            if self.fallback is None:
                raise
            logger.warning(
                "%s voices unavailable; listing %s voices", self.engine.name, self.fallback.name
            )
        if self.fallback is not None:
            voices += await self.fallback.list_voices()
        if request.language_code:
            voices = voices_for_language(voices, request.language_code)
        return tts_pb2.ListVoicesResponse(
            voices=[
                tts_pb2.Voice(
                    name=v.name,
                    display_name=v.display_name,
                    language_codes=list(v.language_codes),
                    gender=v.gender,
                    engine=v.engine,
                )
                for v in sorted(voices, key=lambda v: (v.name, v.engine))
            ],
            default_voice=self.engine.default_voice,
        )

    def use_fallback_only(self) -> None:
        """Speaks everything with the fallback engine (the main one could not load)."""
        if self.fallback is not None:
            self.engine, self.fallback = self.fallback, None

    async def _choose_voice(self, name: str, language_code: str) -> tuple[TtsEngine, str]:
        try:
            return self.engine, await self.engine.resolve_voice(name, language_code)
        except NotFound:
            # A voice or language only the fallback has (ListVoices lists both engines').
            if self.fallback is None:
                raise
            try:
                return self.fallback, await self.fallback.resolve_voice(name, language_code)
            except NotFound:
                pass
            raise
        except Unavailable as exc:
            if self.fallback is None:
                raise
            language = language_code or language_of_voice(name)
            logger.warning(
                "%s unavailable (%s); stream uses %s",
                self.engine.name,
                exc.message,
                self.fallback.name,
            )
            try:
                return self.fallback, await self.fallback.resolve_voice("", language)
            except NotFound:
                return self.fallback, self.fallback.default_voice

    async def _text_inputs(
        self, requests: AsyncIterator[tts_pb2.StreamingSynthesizeRequest]
    ) -> AsyncIterator[TextInput]:
        async for request in requests:
            if request.WhichOneof("streaming_request") == "flush":
                yield FLUSH
                continue
            size = len(request.text.encode("utf-8"))
            if size > self.settings.max_text_bytes:
                raise ResourceExhausted(
                    f"text message of {size} bytes exceeds the limit of "
                    f"{self.settings.max_text_bytes} bytes: send it in smaller pieces"
                )
            yield request.text


def _output_rate(output_format: media_pb2.AudioFormat) -> int:
    if output_format.encoding not in _PCM:
        raise InvalidArgument("output_format.encoding: only PCM s16le is supported")
    if output_format.channels not in (0, 1):
        raise InvalidArgument(
            f"output_format.channels={output_format.channels}: only mono (1) is supported"
        )
    return check_sample_rate(output_format.sample_rate_hz, default=DEFAULT_SAMPLE_RATE)


def _speaking_rate(rate: float) -> float:
    if rate == 0:
        return 1.0
    if math.isnan(rate) or not MIN_SPEAKING_RATE <= rate <= MAX_SPEAKING_RATE:
        raise InvalidArgument(
            f"speaking_rate={rate:g}: use {MIN_SPEAKING_RATE}-{MAX_SPEAKING_RATE} (0 means 1.0)"
        )
    return rate


def _response(output: AudioOut | SegmentOut) -> tts_pb2.StreamingSynthesizeResponse:
    if isinstance(output, AudioOut):
        return tts_pb2.StreamingSynthesizeResponse(
            audio=media_pb2.AudioChunk(
                data=output.pcm, pts_us=output.pts_us, sample_rate_hz=output.sample_rate
            )
        )
    return tts_pb2.StreamingSynthesizeResponse(
        mark=tts_pb2.SegmentMark(
            segment_index=output.index,
            text=output.text,
            start_ms=output.start_ms,
            end_ms=output.end_ms,
            words=[
                speech_pb2.WordTiming(word=w.word, start_ms=w.start_ms, end_ms=w.end_ms)
                for w in output.words
            ],
            visemes=[
                speech_pb2.VisemeEvent(
                    viseme=speech_pb2.Viseme.Value(f"VISEME_{v.viseme.value}"),
                    start_ms=v.start_ms,
                    end_ms=v.end_ms,
                )
                for v in output.visemes
            ],
        )
    )


def build_service(
    settings: TtsSettings,
) -> tuple[Sequence[ServiceBinding], Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]:
    """The TtsService binding with its engines, and the startup/shutdown that load them.

    When the main engine cannot load (its package or voice is missing) and a fallback is
    set, the service starts with the fallback alone and says so in a warning.
    """
    engine = create_engine(settings)
    fallback = (
        create_engine(settings, settings.fallback)
        if settings.fallback != "none" and settings.fallback != settings.engine
        else None
    )
    servicer = TtsServicer(engine, settings, fallback=fallback)
    started: list[TtsEngine] = []

    async def startup() -> None:
        if fallback is not None:
            await fallback.start()
            started.append(fallback)
        try:
            await engine.start()
            started.append(engine)
        except EngineLoadError as exc:
            if fallback is None:
                raise
            logger.warning(
                "the %s engine cannot load (%s); speaking with %s only",
                engine.name,
                exc,
                fallback.name,
            )
            servicer.use_fallback_only()

    async def shutdown() -> None:
        for item in started:
            await item.close()

    return [ServiceBinding.of(servicer, tts_pb2_grpc, tts_pb2)], startup, shutdown
