"""The AsrService servicer: protobuf in and out, everything else in ``Recognizer``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from vtutor.asr.v1 import asr_pb2, asr_pb2_grpc
from vtutor.common.v1 import media_pb2, speech_pb2

from asr_svc.config import AsrSettings
from asr_svc.events import (
    EndOfTurnReason,
    RecognitionEvent,
    RecognitionResult,
    SpeechEvent,
    SpeechEventKind,
)
from asr_svc.recognizer import PCM_S16LE, Recognizer, StreamRequest
from svc_core.server import ServiceBinding
from svc_core.streams import split_config

_EVENT_TYPES = {
    SpeechEventKind.STARTED: asr_pb2.SPEECH_EVENT_TYPE_SPEECH_STARTED,
    SpeechEventKind.ENDED: asr_pb2.SPEECH_EVENT_TYPE_SPEECH_ENDED,
}
_END_REASONS = {
    EndOfTurnReason.SILENCE: asr_pb2.END_OF_TURN_REASON_SILENCE,
    EndOfTurnReason.TURN_COMPLETE: asr_pb2.END_OF_TURN_REASON_TURN_COMPLETE,
    EndOfTurnReason.SILENCE_LIMIT: asr_pb2.END_OF_TURN_REASON_SILENCE_LIMIT,
    EndOfTurnReason.MAX_UTTERANCE: asr_pb2.END_OF_TURN_REASON_MAX_UTTERANCE,
    EndOfTurnReason.END_OF_AUDIO: asr_pb2.END_OF_TURN_REASON_END_OF_AUDIO,
}
_PCM_ENCODINGS = (media_pb2.AUDIO_ENCODING_UNSPECIFIED, media_pb2.AUDIO_ENCODING_PCM_S16LE)


class AsrServicer(asr_pb2_grpc.AsrServiceServicer):
    """Serves ``vtutor.asr.v1.AsrService``."""

    def __init__(self, recognizer: Recognizer) -> None:
        self.recognizer = recognizer

    async def StreamingRecognize(
        self,
        request_iterator: AsyncIterator[asr_pb2.StreamingRecognizeRequest],
        context: Any,
    ) -> AsyncIterator[asr_pb2.StreamingRecognizeResponse]:
        config, rest = await split_config(request_iterator, oneof="streaming_request")
        events = self.recognizer.recognize(stream_request(config), _audio(rest))
        async for event in events:
            yield event_message(event)


async def _audio(
    requests: AsyncIterator[asr_pb2.StreamingRecognizeRequest],
) -> AsyncIterator[bytes]:
    async for request in requests:
        yield request.audio


def stream_request(config: asr_pb2.RecognitionConfig) -> StreamRequest:
    """RecognitionConfig -> StreamRequest."""
    encoding = config.audio_format.encoding
    if encoding in _PCM_ENCODINGS:
        encoding_name = PCM_S16LE
    else:
        names = media_pb2.AudioEncoding.DESCRIPTOR.values_by_number
        encoding_name = names[encoding].name if encoding in names else f"#{encoding}"
    endpointing = config.endpointing
    return StreamRequest(
        encoding=encoding_name,
        sample_rate_hz=config.audio_format.sample_rate_hz,
        channels=config.audio_format.channels,
        language_code=config.language_code,
        interim_results=config.interim_results,
        phrase_hints=tuple(config.phrase_hints),
        min_silence_ms=endpointing.min_silence_ms,
        min_speech_ms=endpointing.min_speech_ms,
        vad_threshold=endpointing.vad_threshold,
        max_utterance_ms=endpointing.max_utterance_ms,
        speech_pad_ms=endpointing.speech_pad_ms,
        knowledge_base_id=config.knowledge_base_id,
    )


def event_message(event: RecognitionEvent) -> asr_pb2.StreamingRecognizeResponse:
    """A pipeline event -> StreamingRecognizeResponse."""
    if isinstance(event, SpeechEvent):
        return asr_pb2.StreamingRecognizeResponse(
            speech_event=asr_pb2.SpeechEvent(
                type=_EVENT_TYPES[event.kind],
                offset_ms=event.offset_ms,
                utterance_index=event.utterance_index,
                end_of_turn_reason=(
                    _END_REASONS[event.end_reason]
                    if event.end_reason is not None
                    else asr_pb2.END_OF_TURN_REASON_UNSPECIFIED
                ),
                end_of_turn_probability=event.end_of_turn_probability,
            )
        )
    assert isinstance(event, RecognitionResult)
    return asr_pb2.StreamingRecognizeResponse(
        result=asr_pb2.RecognitionResult(
            transcript=event.transcript,
            is_final=event.is_final,
            stability=event.stability,
            confidence=event.confidence,
            words=[
                speech_pb2.WordTiming(
                    word=w.word, start_ms=w.start_ms, end_ms=w.end_ms, confidence=w.confidence
                )
                for w in event.words
            ],
            utterance_start_ms=event.utterance_start_ms,
            utterance_end_ms=event.utterance_end_ms,
            utterance_index=event.utterance_index,
        )
    )


def build_service(
    settings: AsrSettings, recognizer: Recognizer | None = None
) -> tuple[Sequence[ServiceBinding], Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]:
    """The bindings, startup and shutdown that ``run_service`` needs.

    Startup loads the engine (health stays NOT_SERVING until it has); shutdown releases it.
    """
    recognizer = recognizer or Recognizer(settings)
    binding = ServiceBinding.of(AsrServicer(recognizer), asr_pb2_grpc, asr_pb2)
    return [binding], recognizer.start, recognizer.stop
