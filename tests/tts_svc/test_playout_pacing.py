"""Synthesis paced to playout (issue 20): a stream keeps at most TTS_PLAYOUT_LEAD_S of audio
ahead of its listener, so an answer is made while it plays instead of in one burst of CPU
when its text arrives; a call cancelled while it waits stops at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import pytest
from vtutor.tts.v1 import tts_pb2, tts_pb2_grpc

from tests.tts_svc.conftest import config_request, text_request, tts_server
from tts_svc.config import TtsSettings
from tts_svc.engines.base import VoiceSettings
from tts_svc.engines.espeak import EspeakEngine
from tts_svc.libespeak import SynthJob
from tts_svc.segmenter import TextSegmenter
from tts_svc.synthesis import AudioOut, SynthesisStream, TextInput

pytestmark = pytest.mark.integration

# About 9 s of speech in three sentences.
ANSWER = (
    "Photosynthesis is how plants make their food from light. "
    "The leaves take in carbon dioxide from the air and water from the roots. "
    "Sunlight gives the energy that joins them into sugar, and oxygen is left over."
)
RATE = 16000


async def _text(*items: str) -> AsyncIterator[TextInput]:
    for item in items:
        yield item


def _stream(engine: EspeakEngine, lead_s: float) -> SynthesisStream:
    return SynthesisStream(
        engine,
        VoiceSettings(engine.default_voice),
        sample_rate=RATE,
        chunk_ms=20,
        segmenter=TextSegmenter(min_clause_words=6, first_clause_words=3),
        playout_lead_s=lead_s,
    )


@pytest.fixture
async def espeak() -> AsyncIterator[EspeakEngine]:
    engine = EspeakEngine()
    await engine.start()
    yield engine
    await engine.close()


async def test_a_paced_stream_stays_within_its_lead_and_says_everything(espeak) -> None:
    lead_s = 1.0
    stream = _stream(espeak, lead_s)
    most_ahead = 0.0
    samples = 0
    async for output in stream.run(_text(ANSWER)):
        if isinstance(output, AudioOut):
            samples += len(output.pcm) // 2
            most_ahead = max(most_ahead, stream.ahead_s())
    assert samples / RATE > 6  # all three sentences were spoken
    # espeak hands over 40 ms at a time: the stream never got further ahead than the lead
    # and one such piece (the clock only lowers it: a slow host plays more while it waits).
    assert most_ahead <= lead_s + 0.1


async def test_without_a_lead_the_stream_runs_ahead_as_fast_as_the_engine(espeak) -> None:
    stream = _stream(espeak, 0.0)
    samples = 0
    async for output in stream.run(_text(ANSWER)):
        if isinstance(output, AudioOut):
            samples += len(output.pcm) // 2
    # espeak speaks ~9 s of audio far faster than real time: the stream ended well ahead.
    assert stream.ahead_s() > 2.0
    assert samples / RATE > 6


def test_a_negative_lead_is_refused(espeak) -> None:
    with pytest.raises(ValueError, match="playout_lead_s"):
        _stream(espeak, -1.0)


async def test_the_service_paces_a_call_to_its_settings_lead() -> None:
    lead_s = 1.0
    settings = TtsSettings(port=0, engine="espeak", playout_lead_s=lead_s)
    async with tts_server(settings) as address, grpc.aio.insecure_channel(address) as channel:
        stub = tts_pb2_grpc.TtsServiceStub(channel)
        first_at: float | None = None
        samples = 0
        most_ahead = 0.0
        async for response in stub.StreamingSynthesize(
            iter([config_request(), text_request(ANSWER)])
        ):
            if not response.HasField("audio"):
                continue
            now = time.monotonic()
            first_at = first_at or now
            samples += len(response.audio.data) // 2
            most_ahead = max(most_ahead, samples / RATE - (now - first_at))
        seconds = samples / RATE
        assert seconds > 6
        # Paced: the last audio came no sooner than the listener needed it less the lead.
        assert time.monotonic() - first_at >= seconds - lead_s - 0.2
        # ...and the client never received much more than the lead ahead of its playout
        # (slack for gRPC delivery).
        assert most_ahead <= lead_s + 0.5


async def test_a_call_cancelled_while_it_waits_for_its_listener_stops_synthesis(
    espeak_jobs: list[SynthJob],
) -> None:
    jobs = espeak_jobs
    settings = TtsSettings(port=0, engine="espeak", playout_lead_s=0.5)
    async with tts_server(settings) as address, grpc.aio.insecure_channel(address) as channel:
        stub = tts_pb2_grpc.TtsServiceStub(channel)
        gate = asyncio.Event()

        async def requests() -> AsyncIterator[tts_pb2.StreamingSynthesizeRequest]:
            yield config_request()
            yield text_request(ANSWER * 5)  # ~45 s of speech
            await gate.wait()

        call = stub.StreamingSynthesize(requests())
        received = 0.0
        while received < 1.0:  # past the lead: the server now waits for the listener
            response = await call.read()
            if response.HasField("audio"):
                received += len(response.audio.data) / 2 / RATE
        call.cancel()
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await call.read()
        started = len(jobs)
        # Paced, the call would have started its next segment within ~3 s of speech.
        await asyncio.sleep(3.0)
        assert len(jobs) == started
        # The service is free and serves the next call at once (nothing queued behind the
        # cancelled one).
        spoken = [
            r.mark.text
            async for r in stub.StreamingSynthesize(iter([config_request(), text_request("Hi.")]))
            if r.HasField("mark")
        ]
        assert spoken == ["Hi."]
