"""TtsService as it starts by default (piper, espeak-ng as fallback) on a real loopback server."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
from vtutor.tts.v1 import tts_pb2, tts_pb2_grpc

from tests.tts_svc.conftest import config_request, speak, text_request, tokens_of, tts_server
from tests.tts_svc.test_server import LESSON, check_timeline, status_of, written_words
from tts_svc.config import TtsSettings
from tts_svc.engines.base import EngineLoadError
from tts_svc.piper_voice import PiperModel, installed_voice_files
from tts_svc.server import build_service

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stub() -> AsyncIterator[tts_pb2_grpc.TtsServiceStub]:
    async with (
        tts_server(TtsSettings(port=0, piper_workers=2)) as address,
        grpc.aio.insecure_channel(address) as channel,
    ):
        yield tts_pb2_grpc.TtsServiceStub(channel)


async def test_streams_clauses_with_word_timings_and_visemes(stub) -> None:
    spoken = await speak(stub, tokens_of(LESSON), sample_rate=16000)

    check_timeline(spoken, 16000)
    assert [m.text for m in spoken.marks] == [
        "Fractions are parts of a whole.",
        "When you add two fractions with the same denominator,",
        "you add the numerators and keep the denominator.",
        "For example, one third plus one third is two thirds.",
    ]
    for mark in spoken.marks:
        assert [w.word for w in mark.words] == written_words(mark.text)
        assert all(w.end_ms > w.start_ms for w in mark.words)
        assert mark.words[-1].end_ms <= mark.end_ms
        assert len({v.viseme for v in mark.visemes}) >= 5
    seconds = len(spoken.pcm) / 2 / 16000
    assert 6 < seconds < 20


async def test_first_clause_is_cut_after_a_few_words(stub) -> None:
    spoken = await speak(stub, tokens_of("To add them, find a common denominator, then add."))
    assert [m.text for m in spoken.marks] == [
        "To add them,",
        "find a common denominator, then add.",
    ]


async def test_speaking_rate_changes_duration(stub) -> None:
    text = ["One third plus one third is two thirds."]
    normal = await speak(stub, text)
    fast = await speak(stub, text, speaking_rate=1.8)
    assert len(fast.pcm) < 0.75 * len(normal.pcm)


async def test_voices_of_both_engines_are_listed_and_spoken(stub) -> None:
    reply = await stub.ListVoices(tts_pb2.ListVoicesRequest())
    engines = {v.name: v.engine for v in reply.voices}
    assert reply.default_voice == "en_US-joe-medium"
    assert engines["en_US-joe-medium"] == "piper" and engines["en-us"] == "espeak"
    # A voice or language only espeak has is spoken by espeak (its marks carry its words).
    espeak = await speak(stub, ["Tomato and water."], voice="en-us+f3")
    german = await speak(stub, ["Guten Morgen, wie geht es dir?"], language="de")
    assert [w.word for w in espeak.marks[0].words] == ["Tomato", "and", "water"]
    assert [m.text for m in german.marks] == ["Guten Morgen, wie geht es dir?"]
    assert len(german.pcm) > 16000


@pytest.mark.parametrize(
    ("requests", "code", "message"),
    [
        ([config_request(voice="nobody")], grpc.StatusCode.NOT_FOUND, "unknown piper voice"),
        ([config_request(language="tlh")], grpc.StatusCode.NOT_FOUND, "no piper voice speaks"),
        (
            [config_request(), text_request("x" * (16 * 1024 + 1))],
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "exceeds the limit",
        ),
        ([config_request(speaking_rate=3.0)], grpc.StatusCode.INVALID_ARGUMENT, "speaking_rate"),
    ],
)
async def test_bad_input_gets_a_clear_status(stub, requests, code, message) -> None:
    error = await status_of(stub, requests)
    assert error.code() == code
    assert message in str(error.details())


async def test_empty_text_is_spoken_as_nothing(stub) -> None:
    # LLMs send empty deltas; they are not an error, and produce no audio.
    spoken = await speak(stub, ["", "   ", ""])
    assert spoken.responses == []
    spoken = await speak(stub, ["", "Hi.", ""])
    assert [m.text for m in spoken.marks] == ["Hi."]


async def test_cancelled_call_stops_synthesis_quietly(stub, monkeypatch, caplog) -> None:
    runs: list[int] = []
    decode = PiperModel.decode

    def counting_decode(self, *args):  # type: ignore[no-untyped-def]
        runs.append(1)
        return decode(self, *args)

    monkeypatch.setattr(PiperModel, "decode", counting_decode)
    gate = asyncio.Event()

    async def requests() -> AsyncIterator[tts_pb2.StreamingSynthesizeRequest]:
        yield config_request()
        yield text_request(LESSON * 10)  # ~40 segments, minutes of speech
        await gate.wait()

    caplog.set_level(logging.DEBUG)
    call = stub.StreamingSynthesize(requests())
    first = await call.read()
    assert first.HasField("audio")
    call.cancel()
    gate.set()
    # Once the server has seen the cancellation, no further window is decoded.
    for _ in range(50):
        count = len(runs)
        await asyncio.sleep(0.2)
        if len(runs) == count:
            break
    assert len(runs) == count < 20
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    after = await speak(stub, ["Still here."])
    assert [m.text for m in after.marks] == ["Still here."]


@pytest.fixture
def damaged_voice(tmp_path: Path) -> Path:
    (joe,) = [v for v in installed_voice_files() if v.name == "en_US-joe-medium"]
    damaged = tmp_path / "en_US-damaged-medium.onnx"
    damaged.write_bytes(b"\x08\x07" + b"\x00" * 1000)
    shutil.copy(joe.config_path, tmp_path / "en_US-damaged-medium.onnx.json")
    return damaged


async def test_espeak_takes_over_when_the_voice_cannot_load(damaged_voice, caplog) -> None:
    settings = TtsSettings(port=0, default_voice=str(damaged_voice))
    async with (
        tts_server(settings) as address,
        grpc.aio.insecure_channel(address) as channel,
    ):
        stub = tts_pb2_grpc.TtsServiceStub(channel)
        reply = await stub.ListVoices(tts_pb2.ListVoicesRequest())
        assert {v.engine for v in reply.voices} == {"espeak"}
        assert reply.default_voice == "en-us"
        spoken = await speak(stub, ["The fallback speaks."])
        assert [w.word for w in spoken.marks[0].words] == ["The", "fallback", "speaks"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("piper engine cannot load" in w and "speaking with espeak" in w for w in warnings)


async def test_without_a_fallback_a_voice_that_cannot_load_stops_the_start(damaged_voice) -> None:
    settings = TtsSettings(port=0, default_voice=str(damaged_voice), fallback="none")
    _, startup, shutdown = build_service(settings)
    with pytest.raises(EngineLoadError, match="cannot load the Piper voice"):
        await startup()
    await shutdown()
