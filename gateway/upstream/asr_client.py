"""Client of asr_svc: a long-lived recognition stream per Converse, plain events out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from vtutor.asr.v1 import asr_pb2, asr_pb2_grpc
from vtutor.common.v1 import media_pb2

from gateway.upstream.channels import ResponseStream, Upstream


@dataclass(frozen=True)
class RecognitionSettings:
    """How a student's audio is to be recognized."""

    sample_rate_hz: int
    language_code: str = ""
    interim_results: bool = False
    phrase_hints: tuple[str, ...] = ()
    # The tutor's knowledge base: asr_svc tunes recognition to its documents (issue 15).
    knowledge_base_id: str = ""


@dataclass(frozen=True)
class SpeechActivity:
    """The student started or stopped speaking, at ``offset_ms`` of this ASR stream's audio.

    On an end, ``turn_complete`` says the ASR's end-of-turn model judged the student finished
    (after a short pause, before the silence rule), with ``end_of_turn_probability``; None when
    no model judged it.
    """

    started: bool
    offset_ms: int
    utterance_index: int
    turn_complete: bool = False
    end_of_turn_probability: float | None = None


@dataclass(frozen=True)
class RecognizedText:
    """A transcript of one utterance; times in ms of this ASR stream's audio."""

    text: str
    is_final: bool
    utterance_start_ms: int
    utterance_end_ms: int
    utterance_index: int
    confidence: float = 0.0


AsrEvent = SpeechActivity | RecognizedText


def _turn_complete(event: asr_pb2.SpeechEvent) -> bool:
    # The end-of-turn fields are newer than some asr_svc deployments: absent means no model.
    reason = getattr(event, "end_of_turn_reason", 0)
    return bool(reason) and reason == getattr(asr_pb2, "END_OF_TURN_REASON_TURN_COMPLETE", -1)


def _end_of_turn_probability(event: asr_pb2.SpeechEvent) -> float | None:
    if "end_of_turn_probability" not in event.DESCRIPTOR.fields_by_name:
        return None
    if not event.HasField("end_of_turn_probability"):
        return None
    return float(event.end_of_turn_probability)


def _event(message: asr_pb2.StreamingRecognizeResponse) -> AsrEvent | None:
    kind = message.WhichOneof("response")
    if kind == "speech_event":
        event = message.speech_event
        if event.type == asr_pb2.SPEECH_EVENT_TYPE_UNSPECIFIED:
            return None
        return SpeechActivity(
            started=event.type == asr_pb2.SPEECH_EVENT_TYPE_SPEECH_STARTED,
            offset_ms=event.offset_ms,
            utterance_index=event.utterance_index,
            turn_complete=_turn_complete(event),
            end_of_turn_probability=_end_of_turn_probability(event),
        )
    if kind == "result":
        result = message.result
        return RecognizedText(
            text=result.transcript,
            is_final=result.is_final,
            utterance_start_ms=result.utterance_start_ms,
            utterance_end_ms=result.utterance_end_ms,
            utterance_index=result.utterance_index,
            confidence=result.confidence,
        )
    return None


class AsrClient(Upstream):
    """Opens StreamingRecognize streams on asr_svc."""

    stage = "asr"

    async def recognize(
        self, settings: RecognitionSettings, audio: AsyncIterator[bytes]
    ) -> ResponseStream[AsrEvent]:
        """Starts recognizing ``audio`` (PCM s16le mono); the stream ends when ``audio`` does.

        No deadline: the stream lives as long as the conversation; keepalive finds a dead
        upstream.
        """
        await self.ensure_ready()
        config = asr_pb2.RecognitionConfig(
            audio_format=media_pb2.AudioFormat(
                encoding=media_pb2.AUDIO_ENCODING_PCM_S16LE,
                sample_rate_hz=settings.sample_rate_hz,
                channels=1,
            ),
            language_code=settings.language_code,
            interim_results=settings.interim_results,
            phrase_hints=list(settings.phrase_hints),
            knowledge_base_id=settings.knowledge_base_id,
        )

        async def requests() -> AsyncIterator[asr_pb2.StreamingRecognizeRequest]:
            yield asr_pb2.StreamingRecognizeRequest(config=config)
            async for chunk in audio:
                yield asr_pb2.StreamingRecognizeRequest(audio=chunk)

        call = asr_pb2_grpc.AsrServiceStub(self.channel).StreamingRecognize(requests())
        return ResponseStream(self.stage, call, _event)
