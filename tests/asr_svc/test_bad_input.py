"""Bad input gets a clear status and never hurts other streams."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from vtutor.asr.v1 import asr_pb2, asr_pb2_grpc
from vtutor.common.v1 import media_pb2

from tests.asr_svc.speech import (
    audio_requests,
    config_request,
    finals,
    paced,
    recognize,
    recognize_blocking,
    recording,
)
from tests.support.speech import silence_pcm

pytestmark = pytest.mark.integration

HINTS = ["what is two plus two", "the answer is four"]
AUDIO = asr_pb2.StreamingRecognizeRequest(audio=silence_pcm(20))


def _config(**fields) -> asr_pb2.StreamingRecognizeRequest:
    request = config_request(hints=HINTS)
    for name, value in fields.items():
        if name in ("encoding", "sample_rate_hz", "channels"):
            setattr(request.config.audio_format, name, value)
        else:
            setattr(request.config, name, value)
    return request


BAD_STREAMS = {
    "audio before config": (
        [AUDIO, config_request()],
        grpc.StatusCode.INVALID_ARGUMENT,
        "first message must set 'config'",
    ),
    "empty stream": ([], grpc.StatusCode.INVALID_ARGUMENT, "empty stream"),
    "config twice": (
        [config_request(), AUDIO, config_request()],
        grpc.StatusCode.INVALID_ARGUMENT,
        "only be sent in the first message",
    ),
    "unsupported encoding": (
        [_config(encoding=7), AUDIO],
        grpc.StatusCode.INVALID_ARGUMENT,
        "unsupported audio encoding",
    ),
    "sample rate too low": (
        [_config(sample_rate_hz=4000), AUDIO],
        grpc.StatusCode.INVALID_ARGUMENT,
        "unsupported sample rate 4000",
    ),
    "sample rate too high": (
        [_config(sample_rate_hz=96000), AUDIO],
        grpc.StatusCode.INVALID_ARGUMENT,
        "unsupported sample rate 96000",
    ),
    "stereo": ([_config(channels=2), AUDIO], grpc.StatusCode.INVALID_ARGUMENT, "mono"),
    "odd byte count": (
        [config_request(), asr_pb2.StreamingRecognizeRequest(audio=b"\x00" * 321)],
        grpc.StatusCode.INVALID_ARGUMENT,
        "not a whole number of 16-bit samples",
    ),
    "oversized chunk": (
        [config_request(), asr_pb2.StreamingRecognizeRequest(audio=bytes(64 * 1024 + 2))],
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        "exceeds",
    ),
    "unsupported language": (
        [_config(language_code="fr-FR"), AUDIO],
        grpc.StatusCode.INVALID_ARGUMENT,
        "language 'fr'",
    ),
    "too many phrase hints": (
        [config_request(hints=[f"phrase {i}" for i in range(1001)]), AUDIO],
        grpc.StatusCode.INVALID_ARGUMENT,
        "1001 phrase hints",
    ),
    "max utterance beyond the service limit": (
        [config_request(max_utterance_ms=600_000), AUDIO],
        grpc.StatusCode.INVALID_ARGUMENT,
        "max_utterance_ms",
    ),
    "bad vad threshold": (
        [config_request(vad_threshold=1.5), AUDIO],
        grpc.StatusCode.INVALID_ARGUMENT,
        "vad_threshold",
    ),
}


@pytest.mark.parametrize("case", list(BAD_STREAMS))
async def test_bad_input_gets_a_clear_status(pocketsphinx_engine, serve_asr, case):
    requests, code, message = BAD_STREAMS[case]
    async with serve_asr(pocketsphinx_engine) as (server, _):
        with pytest.raises(grpc.RpcError) as info:
            await asyncio.to_thread(recognize_blocking, server.address, requests)
    assert info.value.code() == code
    assert message in info.value.details()


async def test_bad_streams_do_not_hurt_a_good_one_running_beside_them(
    pocketsphinx_engine, serve_asr
):
    speech = recording([("what is two plus two", "en-us", 160)])
    good_requests = [config_request(hints=HINTS), *audio_requests(speech.pcm)]
    async with serve_asr(pocketsphinx_engine) as (server, recognizer):
        good = asyncio.create_task(recognize(server.address, good_requests, every_s=0.002))
        bad = [
            asyncio.to_thread(recognize_blocking, server.address, requests)
            for requests, _, _ in BAD_STREAMS.values()
        ]
        outcomes = await asyncio.gather(*bad, return_exceptions=True)
        responses = await good
        assert [o.code() for o in outcomes] == [code for _, code, _ in BAD_STREAMS.values()]
        assert [r.transcript for r in finals(responses)] == ["what is two plus two"]
        await _until(lambda: recognizer.active_streams == 0)


async def test_an_error_mid_stream_keeps_the_results_before_it(pocketsphinx_engine, serve_asr):
    speech = recording([("what is two plus two", "en-us", 160)])
    requests = [
        config_request(hints=HINTS),
        *audio_requests(speech.pcm),
        asr_pb2.StreamingRecognizeRequest(audio=b"\x01"),
    ]
    received = []
    async with serve_asr(pocketsphinx_engine) as (server, _):
        async with grpc.aio.insecure_channel(server.address) as channel:
            call = asr_pb2_grpc.AsrServiceStub(channel).StreamingRecognize(paced(requests))
            with pytest.raises(grpc.aio.AioRpcError) as info:
                async for response in call:
                    received.append(response)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [r.transcript for r in finals(received)] == ["what is two plus two"]


async def test_too_many_streams_is_resource_exhausted(pocketsphinx_engine, serve_asr):
    async with serve_asr(pocketsphinx_engine, max_streams=1) as (server, recognizer):
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = asr_pb2_grpc.AsrServiceStub(channel)
            holding = stub.StreamingRecognize()
            await holding.write(config_request(hints=HINTS))
            await holding.write(AUDIO)
            await _until(lambda: recognizer.active_streams == 1)
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await recognize(server.address, [config_request(), AUDIO])
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            await holding.done_writing()
            assert [r async for r in holding] == []
        # The slot is free again.
        await _until(lambda: recognizer.active_streams == 0)
        assert await recognize(server.address, [config_request(), AUDIO]) == []


async def test_cancellation_mid_utterance_releases_the_stream(pocketsphinx_engine, serve_asr):
    speech = recording([("the answer is four", "en-us", 120)], tail_ms=0)
    half = audio_requests(speech.pcm)[: len(speech.pcm) // 2 // 640]
    async with serve_asr(pocketsphinx_engine) as (server, recognizer):
        async with grpc.aio.insecure_channel(server.address) as channel:
            call = asr_pb2_grpc.AsrServiceStub(channel).StreamingRecognize()
            await call.write(config_request(hints=HINTS))
            for request in half:
                await call.write(request)
            started = await call.read()
            assert started.speech_event.type == asr_pb2.SPEECH_EVENT_TYPE_SPEECH_STARTED
            call.cancel()
        await _until(lambda: recognizer.active_streams == 0)
        # The service, and the engine's reused decoder, serve the next stream normally.
        again = recording([("the answer is four", "en-us", 160)])
        responses = await recognize(
            server.address, [config_request(hints=HINTS), *audio_requests(again.pcm)]
        )
    assert [r.transcript for r in finals(responses)] == ["the answer is four"]


async def _until(condition, timeout_s: float = 10.0) -> None:
    # Polls: the counter lives in the service and has no event to wait on.
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def test_unknown_encodings_are_named_in_the_request():
    from asr_svc.server import stream_request

    config = asr_pb2.RecognitionConfig(
        audio_format=media_pb2.AudioFormat(encoding=media_pb2.AUDIO_ENCODING_PCM_S16LE)
    )
    assert stream_request(config).encoding == "pcm_s16le"
    config.audio_format.encoding = 9
    assert stream_request(config).encoding == "#9"
