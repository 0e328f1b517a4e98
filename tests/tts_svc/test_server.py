"""TtsService with the espeak engine on a real loopback server: streaming, marks, limits."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import grpc
import pytest
from vtutor.common.v1 import speech_pb2
from vtutor.tts.v1 import tts_pb2

from tests.tts_svc.conftest import (
    Spoken,
    config_request,
    flush_request,
    speak,
    text_request,
    tokens_of,
)
from tts_svc.libespeak import SynthJob

pytestmark = pytest.mark.integration

LESSON = (
    "Fractions are parts of a whole. When you add two fractions with the same denominator, "
    "you add the numerators and keep the denominator. For example, one third plus one third "
    "is two thirds."
)


def check_timeline(spoken: Spoken, rate: int, chunk_ms: int = 20) -> None:
    """Audio chunks are contiguous and fixed-size; each mark follows its own audio, the
    marks tile the timeline, and words and visemes lie inside their segments, in order."""
    chunk_samples = rate * chunk_ms // 1000
    position = 0  # samples sent
    segment_start = 0
    expected_index = 0
    for response in spoken.responses:
        if response.HasField("audio"):
            chunk = response.audio
            assert chunk.sample_rate_hz == rate
            assert len(chunk.data) == 2 * chunk_samples
            assert chunk.pts_us == position * 1_000_000 // rate
            position += chunk_samples
            continue
        mark = response.mark
        assert mark.segment_index == expected_index
        assert mark.start_ms == segment_start * 1000 // rate
        assert mark.end_ms == position * 1000 // rate  # exactly the audio sent before it
        assert mark.end_ms > mark.start_ms
        previous_start = mark.start_ms
        for word in mark.words:
            assert mark.start_ms <= word.start_ms <= word.end_ms <= mark.end_ms
            assert word.start_ms >= previous_start
            previous_start = word.start_ms
        for viseme in mark.visemes:
            assert mark.start_ms <= viseme.start_ms <= viseme.end_ms <= mark.end_ms
        segment_start = position
        expected_index += 1
    assert spoken.responses[-1].HasField("mark"), "the stream ends with the last mark"
    assert position == segment_start, "no audio after the last mark"


def written_words(text: str) -> list[str]:
    return [w.strip(".,;:!?\"'") for w in text.split()]


async def test_speaks_segments_with_marks_that_agree_with_the_audio(stub) -> None:
    spoken = await speak(stub, tokens_of(LESSON), sample_rate=16000)

    check_timeline(spoken, 16000)
    marks = spoken.marks
    assert [m.text for m in marks] == [
        "Fractions are parts of a whole.",
        "When you add two fractions with the same denominator,",
        "you add the numerators and keep the denominator.",
        "For example, one third plus one third is two thirds.",
    ]
    for mark in marks:
        assert [w.word for w in mark.words] == written_words(mark.text)
        assert {v.viseme for v in mark.visemes} >= {speech_pb2.VISEME_SIL, speech_pb2.VISEME_NN}
    # Real speech, not silence: most 20 ms chunks carry signal.
    loud = [c for c in spoken.chunks if max(abs(b - 128) for b in c.data[1::2]) > 8]
    assert len(loud) > len(spoken.chunks) // 2
    seconds = len(spoken.pcm) / 2 / 16000
    assert 5 < seconds < 20  # ~35 words at espeak's 175 words per minute


async def test_first_audio_arrives_before_the_last_token_is_sent(stub) -> None:
    tokens = tokens_of(LESSON)
    sent = 0
    first_audio_after: int | None = None
    first_mark_after: int | None = None

    async def requests() -> AsyncIterator[tts_pb2.StreamingSynthesizeRequest]:
        nonlocal sent
        yield config_request()
        for token in tokens:
            await asyncio.sleep(0.03)  # an LLM producing ~30 tokens per second
            yield text_request(token)
            sent += 1

    async for response in stub.StreamingSynthesize(requests()):
        if response.HasField("audio") and first_audio_after is None:
            first_audio_after = sent
        if response.HasField("mark") and first_mark_after is None:
            first_mark_after = sent

    assert first_audio_after is not None and first_mark_after is not None
    # The first sentence is complete after 8 of ~45 tokens; its speech must not wait for more.
    assert first_audio_after < len(tokens) // 2
    assert first_mark_after < len(tokens)


async def test_flush_speaks_pending_text_while_the_stream_stays_open(stub) -> None:
    requests: asyncio.Queue[tts_pb2.StreamingSynthesizeRequest | None] = asyncio.Queue()

    async def request_stream() -> AsyncIterator[tts_pb2.StreamingSynthesizeRequest]:
        while (request := await requests.get()) is not None:
            yield request

    call = stub.StreamingSynthesize(request_stream())
    await requests.put(config_request())
    await requests.put(text_request("no full stop here"))
    await requests.put(flush_request())
    responses = []
    while not (response := await call.read()).HasField("mark"):
        responses.append(response)
    first_mark = response.mark
    assert first_mark.text == "no full stop here"
    assert responses and all(r.HasField("audio") for r in responses)
    await requests.put(text_request("and a second part"))
    await requests.put(None)  # half-close implies a flush
    rest = []
    while (response := await call.read()) is not grpc.aio.EOF:
        rest.append(response)
    assert [r.mark.text for r in rest if r.HasField("mark")] == ["and a second part"]
    assert rest[-1].mark.start_ms == first_mark.end_ms


@pytest.mark.parametrize("rate", [8000, 22050, 48000])
async def test_output_rate_is_the_requested_one(stub, rate: int) -> None:
    spoken = await speak(stub, ["Good morning. How are you today?"], sample_rate=rate)
    check_timeline(spoken, rate)
    seconds = len(spoken.pcm) / 2 / rate
    assert 1.5 < seconds < 6


async def test_speaking_rate_changes_duration(stub) -> None:
    normal = await speak(stub, [LESSON], speaking_rate=1.0)
    fast = await speak(stub, [LESSON], speaking_rate=2.0)
    slow = await speak(stub, [LESSON], speaking_rate=0.5)
    assert len(fast.pcm) < 0.7 * len(normal.pcm)
    assert len(slow.pcm) > 1.4 * len(normal.pcm)


async def test_voice_and_language_choose_the_speech(stub) -> None:
    us = await speak(stub, ["Tomato and water."], voice="en-us")
    variant = await speak(stub, ["Tomato and water."], voice="en-us+f3")
    german = await speak(stub, ["Guten Morgen, wie geht es dir?"], language="de")
    assert us.pcm != variant.pcm
    assert [w.word for w in german.marks[0].words] == [
        "Guten",
        "Morgen",
        "wie",
        "geht",
        "es",
        "dir",
    ]


async def test_eight_concurrent_streams_each_get_their_own_speech(stub) -> None:
    texts = [
        f"This is stream number {n}. It has {n + 1} sentences of its own. " * (n % 3 + 1)
        for n in range(8)
    ]
    alone = [await speak(stub, [text]) for text in texts]
    together = await asyncio.gather(
        *(speak(stub, tokens_of(text), delay_s=0.005) for text in texts)
    )
    for text, solo, spoken in zip(texts, alone, together, strict=True):
        assert " ".join(m.text for m in spoken.marks) == re.sub(r"\s+", " ", text).strip()
        assert [w.word for m in spoken.marks for w in m.words] == written_words(text)
        # espeak varies its timing a little from call to call (a few percent), so compare
        # durations with the same text spoken alone rather than bytes.
        assert len(spoken.pcm) == pytest.approx(len(solo.pcm), rel=0.1)
        check_timeline(spoken, 16000)


async def test_cancelled_call_stops_synthesis_and_the_service_keeps_serving(
    stub, espeak_jobs: list[SynthJob]
) -> None:
    jobs = espeak_jobs
    gate = asyncio.Event()
    long_text = LESSON * 20  # ~60 segments, a few minutes of speech

    async def requests() -> AsyncIterator[tts_pb2.StreamingSynthesizeRequest]:
        yield config_request()
        yield text_request(long_text)
        await gate.wait()

    call = stub.StreamingSynthesize(requests())
    first = await call.read()
    assert first.HasField("audio")
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call.read()
    assert call.cancelled()
    gate.set()
    # Once the server has seen the cancellation no segment is started any more, and the
    # one in progress was told to abort.
    for _ in range(100):
        count = len(jobs)
        await asyncio.sleep(0.3)
        if len(jobs) == count and jobs[-1].cancelled.is_set():
            break
    assert len(jobs) == count and jobs[-1].cancelled.is_set()
    assert count < 20

    after = await speak(stub, ["Still here."])
    assert [m.text for m in after.marks] == ["Still here."]


async def test_config_alone_ends_without_output(stub) -> None:
    spoken = await speak(stub, [])
    assert spoken.responses == []


async def status_of(
    stub, requests: list[tts_pb2.StreamingSynthesizeRequest]
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in stub.StreamingSynthesize(iter(requests)):
            pass
    return caught.value


@pytest.mark.parametrize(
    ("requests", "code", "message"),
    [
        ([text_request("Hello.")], grpc.StatusCode.INVALID_ARGUMENT, "first message must set"),
        ([], grpc.StatusCode.INVALID_ARGUMENT, "empty stream"),
        ([config_request(voice="xx-klingon")], grpc.StatusCode.NOT_FOUND, "unknown espeak voice"),
        ([config_request(language="tlh")], grpc.StatusCode.NOT_FOUND, "no espeak voice speaks"),
        ([config_request(sample_rate=4000)], grpc.StatusCode.INVALID_ARGUMENT, "sample rate"),
        ([config_request(sample_rate=96000)], grpc.StatusCode.INVALID_ARGUMENT, "sample rate"),
        ([config_request(speaking_rate=3.0)], grpc.StatusCode.INVALID_ARGUMENT, "speaking_rate"),
        ([config_request(speaking_rate=0.2)], grpc.StatusCode.INVALID_ARGUMENT, "speaking_rate"),
        (
            [config_request(), text_request("x" * (16 * 1024 + 1))],
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "exceeds the limit",
        ),
        (
            [config_request(), text_request("Hi."), config_request()],
            grpc.StatusCode.INVALID_ARGUMENT,
            "only be sent in the first message",
        ),
        (
            [config_request(), tts_pb2.StreamingSynthesizeRequest()],
            grpc.StatusCode.INVALID_ARGUMENT,
            "empty message",
        ),
    ],
)
async def test_bad_input_gets_a_clear_status(stub, requests, code, message) -> None:
    error = await status_of(stub, requests)
    assert error.code() == code
    assert message in str(error.details())


async def test_other_formats_and_channels_are_refused(stub) -> None:
    stereo = config_request()
    stereo.config.output_format.channels = 2
    error = await status_of(stub, [stereo])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "mono" in str(error.details())
    bad_encoding = config_request()
    bad_encoding.config.output_format.encoding = 7  # type: ignore[assignment]
    error = await status_of(stub, [bad_encoding])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_list_voices(stub) -> None:
    reply = await stub.ListVoices(tts_pb2.ListVoicesRequest())
    names = [v.name for v in reply.voices]
    assert names == sorted(names)
    assert reply.default_voice == "en-us"
    assert "en-us" in names and "de" in names
    assert all(v.engine == "espeak" for v in reply.voices)
    english = await stub.ListVoices(tts_pb2.ListVoicesRequest(language_code="en"))
    assert english.voices and len(english.voices) < len(reply.voices)
    assert all(any(c.lower().startswith("en") for c in v.language_codes) for v in english.voices)
    us = next(v for v in english.voices if v.name == "en-us")
    assert "en-US" in us.language_codes
