"""Test speech for asr_svc: espeak-ng sentences over a faint noise floor, and a stream client."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field

import grpc
import numpy as np
from vtutor.asr.v1 import asr_pb2, asr_pb2_grpc
from vtutor.common.v1 import media_pb2

from asr_svc.engines.base import AsrEngine, KnowledgeText, StreamSpec, Transcript
from tests.support.speech import chunks, espeak_pcm, silence_pcm

RATE = 16000


def with_noise_floor(pcm: bytes, *, dbfs: float = -60.0, seed: int = 0) -> bytes:
    """Adds faint white noise, as any microphone has (digital silence is not realistic)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    noise = np.random.default_rng(seed).normal(0.0, 32768 * 10 ** (dbfs / 20), len(samples))
    return np.clip(samples + noise, -32768, 32767).astype("<i2").tobytes()


@dataclass(frozen=True)
class Spoken:
    """A sentence inside a recording, and where its speech lies (ms)."""

    text: str
    start_ms: int
    end_ms: int


@dataclass
class Recording:
    """PCM of sentences separated by silence, with where each sentence is."""

    pcm: bytes
    rate: int
    spoken: list[Spoken] = field(default_factory=list)


def speech_onset_ms(pcm: bytes, rate: int = RATE, *, level: int = 600) -> int:
    """Where audible speech starts in espeak output (it begins with a little silence)."""
    samples = np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32))
    loud = np.flatnonzero(samples > level)
    return int(loud[0] * 1000 // rate) if len(loud) else 0


def speech_end_ms(pcm: bytes, rate: int = RATE, *, level: int = 600) -> int:
    """Where audible speech ends in espeak output."""
    samples = np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32))
    loud = np.flatnonzero(samples > level)
    return int((loud[-1] + 1) * 1000 // rate) if len(loud) else 0


def recording(
    sentences: Sequence[tuple[str, str, int]],
    *,
    rate: int = RATE,
    lead_ms: int = 400,
    gap_ms: int = 1000,
    tail_ms: int = 900,
    seed: int = 0,
) -> Recording:
    """Speaks (text, voice, words per minute) sentences with silence around each."""
    parts = [silence_pcm(lead_ms, sample_rate=rate)]
    spoken: list[Spoken] = []
    offset_ms = lead_ms
    for index, (text, voice, wpm) in enumerate(sentences):
        if index:
            parts.append(silence_pcm(gap_ms, sample_rate=rate))
            offset_ms += gap_ms
        speech = espeak_pcm(text, voice=voice, words_per_minute=wpm, sample_rate=rate)
        spoken.append(
            Spoken(
                text,
                offset_ms + speech_onset_ms(speech, rate),
                offset_ms + speech_end_ms(speech, rate),
            )
        )
        parts.append(speech)
        offset_ms += len(speech) * 1000 // (2 * rate)
    parts.append(silence_pcm(tail_ms, sample_rate=rate))
    return Recording(with_noise_floor(b"".join(parts), seed=seed), rate, spoken)


def config_request(
    *,
    rate: int = RATE,
    hints: Iterable[str] = (),
    interim: bool = False,
    knowledge_base_id: str = "",
    **endpointing: int | float,
) -> asr_pb2.StreamingRecognizeRequest:
    """The first message of a stream."""
    return asr_pb2.StreamingRecognizeRequest(
        config=asr_pb2.RecognitionConfig(
            audio_format=media_pb2.AudioFormat(
                encoding=media_pb2.AUDIO_ENCODING_PCM_S16LE, sample_rate_hz=rate, channels=1
            ),
            language_code="en-US",
            interim_results=interim,
            phrase_hints=list(hints),
            knowledge_base_id=knowledge_base_id,
            endpointing=asr_pb2.EndpointingConfig(**endpointing),  # type: ignore[arg-type]
        )
    )


def audio_requests(
    pcm: bytes, *, rate: int = RATE, chunk_ms: int = 20
) -> list[asr_pb2.StreamingRecognizeRequest]:
    """Real-time-sized audio messages."""
    return [
        asr_pb2.StreamingRecognizeRequest(audio=chunk)
        for chunk in chunks(pcm, ms=chunk_ms, sample_rate=rate)
    ]


async def paced(
    requests: Sequence[asr_pb2.StreamingRecognizeRequest], *, every_s: float = 0.0
) -> AsyncIterator[asr_pb2.StreamingRecognizeRequest]:
    """Yields requests, sleeping between them (0: as fast as the server takes them)."""
    for request in requests:
        yield request
        await asyncio.sleep(every_s)


async def recognize(
    address: str, requests: Sequence[asr_pb2.StreamingRecognizeRequest], *, every_s: float = 0.0
) -> list[asr_pb2.StreamingRecognizeResponse]:
    """Runs one StreamingRecognize call; returns every response (raises the call's error)."""
    async with grpc.aio.insecure_channel(address) as channel:
        call = asr_pb2_grpc.AsrServiceStub(channel).StreamingRecognize()

        async def write() -> None:
            # A write after the server ended the call fails; the status is read below.
            with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
                async for request in paced(requests, every_s=every_s):
                    await call.write(request)
                await call.done_writing()

        writer = asyncio.create_task(write())
        try:
            return [response async for response in call]
        finally:
            await writer


def recognize_blocking(
    address: str, requests: Sequence[asr_pb2.StreamingRecognizeRequest]
) -> list[asr_pb2.StreamingRecognizeResponse]:
    """Like ``recognize``, with the synchronous client (call it in a thread).

    When the server rejects a stream while the client is still sending, the asyncio client
    can report its own failed write (INTERNAL) instead of the server's status; the
    synchronous client stops sending quietly and reports the server's status.
    """
    with grpc.insecure_channel(address) as channel:
        call = asr_pb2_grpc.AsrServiceStub(channel).StreamingRecognize(iter(requests))
        return list(call)


def finals(
    responses: Iterable[asr_pb2.StreamingRecognizeResponse],
) -> list[asr_pb2.RecognitionResult]:
    """The final results, in order."""
    return [
        r.result for r in responses if r.WhichOneof("response") == "result" and r.result.is_final
    ]


def interims(
    responses: Iterable[asr_pb2.StreamingRecognizeResponse],
) -> list[asr_pb2.RecognitionResult]:
    """The interim results, in order."""
    return [
        r.result
        for r in responses
        if r.WhichOneof("response") == "result" and not r.result.is_final
    ]


def speech_events(
    responses: Iterable[asr_pb2.StreamingRecognizeResponse],
) -> list[asr_pb2.SpeechEvent]:
    """The speech events, in order."""
    return [r.speech_event for r in responses if r.WhichOneof("response") == "speech_event"]


def decode_utterance(engine: AsrEngine, spec: StreamSpec, pcm: bytes) -> Transcript:
    """``pcm`` (16 kHz s16le) decoded as one utterance by a stream of ``engine``."""
    stream = engine.open_stream(spec)
    try:
        stream.start_utterance()
        stream.accept(np.frombuffer(pcm, dtype="<i2"))
        return stream.finish(len(pcm) // 2)
    finally:
        stream.close()


def knowledge(name: str, *texts: str) -> KnowledgeText:
    """A tutor's knowledge base named ``name`` with ``texts`` as its documents."""
    return KnowledgeText(knowledge_base_id=name, content_hash=f"hash-{name}", documents=texts)
