"""Fixtures for tts_svc tests: a real TtsService on loopback and a client that speaks to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import grpc
import pytest
from vtutor.common.v1 import media_pb2
from vtutor.tts.v1 import tts_pb2, tts_pb2_grpc

from svc_core.server import ServiceBinding
from tests.support.grpc_servers import running_server
from tts_svc.config import TtsSettings
from tts_svc.libespeak import SynthJob, espeak_runtime
from tts_svc.server import TtsServicer, build_service


@pytest.fixture
def espeak_jobs(monkeypatch: pytest.MonkeyPatch) -> list[SynthJob]:
    """Every job the process's espeak-ng runtime is given from now on, in order."""
    runtime = espeak_runtime()
    jobs: list[SynthJob] = []
    submit = runtime.submit

    def recording_submit(job: SynthJob) -> None:
        jobs.append(job)
        submit(job)

    monkeypatch.setattr(runtime, "submit", recording_submit)
    return jobs


@asynccontextmanager
async def tts_server(settings: TtsSettings) -> AsyncIterator[str]:
    """A TtsService built as ``python -m tts_svc`` builds it; yields its address."""
    bindings, startup, shutdown = build_service(settings)
    await startup()
    try:
        async with running_server(bindings) as server:
            yield server.address
    finally:
        await shutdown()


@asynccontextmanager
async def servicer_server(servicer: TtsServicer) -> AsyncIterator[str]:
    """A TtsService around a servicer made by the test (engines already started)."""
    async with running_server([ServiceBinding.of(servicer, tts_pb2_grpc, tts_pb2)]) as server:
        yield server.address


@pytest.fixture
async def espeak_address() -> AsyncIterator[str]:
    async with tts_server(TtsSettings(port=0, engine="espeak")) as address:
        yield address


@pytest.fixture
async def stub(espeak_address: str) -> AsyncIterator[tts_pb2_grpc.TtsServiceStub]:
    async with grpc.aio.insecure_channel(espeak_address) as channel:
        yield tts_pb2_grpc.TtsServiceStub(channel)


def config_request(
    *, voice: str = "", sample_rate: int = 16000, speaking_rate: float = 0.0, language: str = ""
) -> tts_pb2.StreamingSynthesizeRequest:
    return tts_pb2.StreamingSynthesizeRequest(
        config=tts_pb2.SynthesisConfig(
            voice=voice,
            output_format=media_pb2.AudioFormat(sample_rate_hz=sample_rate),
            speaking_rate=speaking_rate,
            language_code=language,
        )
    )


def text_request(text: str) -> tts_pb2.StreamingSynthesizeRequest:
    return tts_pb2.StreamingSynthesizeRequest(text=text)


def flush_request() -> tts_pb2.StreamingSynthesizeRequest:
    return tts_pb2.StreamingSynthesizeRequest(flush=tts_pb2.Flush())


def tokens_of(text: str) -> list[str]:
    """Cuts text like an LLM tokenizer: words with their leading space, punctuation alone,
    long words in two pieces."""
    tokens: list[str] = []
    word = ""
    for ch in text:
        if ch.isalnum() or ch == "'":
            word += ch
            continue
        if word:
            tokens += _split_word(word)
            word = ""
        if ch == " ":
            word = ""
            tokens.append(" ")
        else:
            tokens.append(ch)
    if word:
        tokens += _split_word(word)
    # Glue each lone space onto the token after it, as BPE tokenizers do.
    glued: list[str] = []
    for token in tokens:
        if glued and glued[-1] == " ":
            glued[-1] = " " + token
        else:
            glued.append(token)
    return glued


def _split_word(word: str) -> list[str]:
    return [word[:4], word[4:]] if len(word) > 6 else [word]


@dataclass
class Spoken:
    """What a StreamingSynthesize call returned, in order."""

    responses: list[tts_pb2.StreamingSynthesizeResponse] = field(default_factory=list)

    @property
    def chunks(self) -> list[media_pb2.AudioChunk]:
        return [r.audio for r in self.responses if r.HasField("audio")]

    @property
    def marks(self) -> list[tts_pb2.SegmentMark]:
        return [r.mark for r in self.responses if r.HasField("mark")]

    @property
    def pcm(self) -> bytes:
        return b"".join(c.data for c in self.chunks)


async def speak(
    stub: tts_pb2_grpc.TtsServiceStub,
    pieces: Sequence[str],
    *,
    delay_s: float = 0.0,
    **config: object,
) -> Spoken:
    """Sends a config and text pieces (``delay_s`` apart), half-closes, collects the output."""

    async def requests() -> AsyncIterator[tts_pb2.StreamingSynthesizeRequest]:
        yield config_request(**config)  # type: ignore[arg-type]
        for piece in pieces:
            if delay_s:
                await asyncio.sleep(delay_s)
            yield text_request(piece)

    spoken = Spoken()
    async for response in stub.StreamingSynthesize(requests()):
        spoken.responses.append(response)
    return spoken
