"""The edge engine: MP3 decoded as it arrives, word boundaries, the unreachable service and
the fallback to espeak. Microsoft's service is replaced at the network boundary."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import grpc
import pytest
from vtutor.tts.v1 import tts_pb2, tts_pb2_grpc

from tests.tts_svc.conftest import servicer_server, speak, tokens_of, tts_server
from tests.tts_svc.fake_edge import FakeEdgeService
from tests.tts_svc.test_server import check_timeline, written_words
from tts_svc.config import TtsSettings
from tts_svc.engines.base import SpeechAudio, VoiceSettings, WordSpan
from tts_svc.engines.edge import EdgeEngine
from tts_svc.engines.espeak import EspeakEngine
from tts_svc.server import TtsServicer

pytestmark = pytest.mark.integration

TEXT = "Edge voices sound natural. They come from a service on the internet, far away."


def closed_port() -> int:
    """A loopback port nothing listens on: connecting fails at once, like a machine offline."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def fake_service() -> FakeEdgeService:
    return FakeEdgeService()


@pytest.fixture
async def edge_stub(fake_service) -> AsyncIterator[tts_pb2_grpc.TtsServiceStub]:
    engine = EdgeEngine(
        communicate_factory=fake_service.communicate, list_voices=fake_service.list_voices
    )
    await engine.start()
    async with (
        servicer_server(TtsServicer(engine, TtsSettings(engine="edge"))) as address,
        grpc.aio.insecure_channel(address) as channel,
    ):
        yield tts_pb2_grpc.TtsServiceStub(channel)


async def test_engine_decodes_mp3_pieces_as_they_arrive(fake_service) -> None:
    engine = EdgeEngine(
        communicate_factory=fake_service.communicate, list_voices=fake_service.list_voices
    )
    await engine.start()
    events = [e async for e in engine.synthesize("Hello there, student.", VoiceSettings("x"))]
    audio = [e for e in events if isinstance(e, SpeechAudio)]
    words = [e for e in events if isinstance(e, WordSpan)]
    assert len(audio) > 10 and {a.sample_rate for a in audio} == {24000}
    seconds = sum(len(a.pcm) for a in audio) / 2 / 24000
    assert 0.8 < seconds < 3
    assert [w.word for w in words] == ["Hello", "there", "student"]
    assert words[0].start_ms == 50  # 500000 ticks of 100 ns
    assert all(w.end_ms <= seconds * 1000 for w in words)


async def test_stream_through_the_edge_engine(edge_stub, fake_service) -> None:
    spoken = await speak(
        edge_stub, tokens_of(TEXT), sample_rate=16000, voice="en-GB-RyanNeural",
        speaking_rate=1.5,
    )  # fmt: skip
    check_timeline(spoken, 16000)
    assert [m.text for m in spoken.marks] == [
        "Edge voices sound natural.",
        "They come from a service on the internet,",
        "far away.",
    ]
    for mark in spoken.marks:
        assert [w.word for w in mark.words] == written_words(mark.text)
        assert mark.words[0].start_ms == mark.start_ms + 50  # boundary offsets, moved
        assert not mark.visemes  # edge does not report them
    assert [c["text"] for c in fake_service.calls] == [m.text for m in spoken.marks]
    assert {c["voice"] for c in fake_service.calls} == {"en-GB-RyanNeural"}
    assert {c["rate"] for c in fake_service.calls} == {"+50%"}
    assert {c["boundary"] for c in fake_service.calls} == {"WordBoundary"}


async def test_edge_voices_and_their_errors(edge_stub) -> None:
    reply = await edge_stub.ListVoices(tts_pb2.ListVoicesRequest(language_code="en"))
    assert [v.name for v in reply.voices] == ["en-GB-RyanNeural", "en-US-AriaNeural"]
    assert reply.default_voice == "en-US-AriaNeural"
    assert reply.voices[0].gender == "male" and reply.voices[0].engine == "edge"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await speak(edge_stub, ["Hi."], voice="en-US-NobodyNeural")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    german = await speak(edge_stub, ["Guten Tag."], language="de-DE")
    assert german.marks[0].text == "Guten Tag."


async def test_unreachable_service_is_unavailable_with_a_clear_message() -> None:
    settings = TtsSettings(
        engine="edge", fallback="none", edge_proxy=f"http://127.0.0.1:{closed_port()}"
    )
    async with tts_server(settings) as address, grpc.aio.insecure_channel(address) as channel:
        stub = tts_pb2_grpc.TtsServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await speak(stub, ["Hello."], voice="en-US-AriaNeural")
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "cannot reach Microsoft's speech service" in str(caught.value.details())
        assert "TTS_FALLBACK=espeak" in str(caught.value.details())
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListVoices(tts_pb2.ListVoicesRequest())
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_fallback_to_espeak_when_edge_is_unreachable() -> None:
    settings = TtsSettings(
        engine="edge", fallback="espeak", edge_proxy=f"http://127.0.0.1:{closed_port()}"
    )
    async with tts_server(settings) as address, grpc.aio.insecure_channel(address) as channel:
        stub = tts_pb2_grpc.TtsServiceStub(channel)
        spoken = await speak(stub, tokens_of(TEXT), voice="en-GB-RyanNeural")
        check_timeline(spoken, 16000)
        assert len(spoken.marks) == 3
        assert all(m.visemes for m in spoken.marks)  # espeak spoke them
        voices = await stub.ListVoices(tts_pb2.ListVoicesRequest(language_code="en"))
        assert {v.engine for v in voices.voices} == {"espeak"}
        assert voices.default_voice == "en-US-AriaNeural"


async def test_fallback_when_the_service_drops_after_the_voice_check(fake_service) -> None:
    # The voice list came through; then synthesis cannot connect.
    engine = EdgeEngine(
        communicate_factory=fake_service.communicate, list_voices=fake_service.list_voices
    )
    await engine.start()
    fallback = EspeakEngine()
    await fallback.start()
    servicer = TtsServicer(engine, TtsSettings(engine="edge"), fallback=fallback)
    async with servicer_server(servicer) as address, grpc.aio.insecure_channel(address) as ch:
        stub = tts_pb2_grpc.TtsServiceStub(ch)
        await stub.ListVoices(tts_pb2.ListVoicesRequest())  # caches the voices
        fake_service.fail_with = aiohttp.ClientConnectionError("connection reset")
        spoken = await speak(stub, ["First part is here. Second part follows."])
    assert [m.text for m in spoken.marks] == ["First part is here.", "Second part follows."]
    assert all(m.visemes for m in spoken.marks)
    assert len(fake_service.calls) == 1  # tried edge once, then stayed with espeak
