"""StreamingAnimate on the procedural engine: framing, exact audio, pictures, latency, errors."""

from __future__ import annotations

import asyncio
import logging

import cv2
import grpc
import numpy as np
import pytest
from vtutor.common.v1 import media_pb2, speech_pb2
from vtutor.lipsync.v1 import lipsync_pb2, lipsync_pb2_grpc

from lipsync_svc.server import LipsyncServicer
from tests.lipsync_svc.conftest import animate, animate_requests, rgb_frames, speech_like

pytestmark = pytest.mark.integration

RGB = lipsync_pb2.AnimateConfig(pixel_format=media_pb2.PIXEL_FORMAT_RGB24)


async def test_three_seconds_make_75_frames_carrying_exactly_the_input_audio(
    stub: lipsync_pb2_grpc.LipsyncServiceStub,
) -> None:
    pcm = speech_like(3.0)
    responses = await animate(stub, animate_requests(pcm, chunk_bytes=1000))

    assert len(responses) == 75
    assert [r.frame_index for r in responses] == list(range(75))
    for index, response in enumerate(responses):
        audio, video = response.frame.audio, response.frame.video
        assert len(audio.data) == 640 * 2
        assert audio.sample_rate_hz == 16000
        assert audio.pts_us == video.pts_us == index * 40_000
        assert (video.width, video.height) == (256, 256)
        assert video.pixel_format == media_pb2.PIXEL_FORMAT_I420
        assert len(video.data) == 256 * 256 * 3 // 2
    assert b"".join(r.frame.audio.data for r in responses) == pcm


async def test_a_partial_last_frame_is_padded_with_silence(
    stub: lipsync_pb2_grpc.LipsyncServiceStub,
) -> None:
    pcm = speech_like(0.1)[: 1000 * 2]  # 1000 samples: one full frame and 360 samples
    responses = await animate(stub, animate_requests(pcm))
    audio = b"".join(r.frame.audio.data for r in responses)
    assert len(responses) == 2
    assert audio == pcm + bytes(2 * (1280 - 1000))


async def test_other_rates_frame_rates_sizes_and_formats(
    stub: lipsync_pb2_grpc.LipsyncServiceStub,
) -> None:
    pcm = speech_like(1.0, rate=48000)
    config = lipsync_pb2.AnimateConfig(
        audio_format=media_pb2.AudioFormat(sample_rate_hz=48000),
        fps=30,
        pixel_format=media_pb2.PIXEL_FORMAT_JPEG,
        width=320,
        height=240,
    )
    responses = await animate(stub, animate_requests(pcm, config=config, chunk_bytes=4800))
    assert len(responses) == 30
    assert all(len(r.frame.audio.data) == 1600 * 2 for r in responses)
    assert [r.frame.video.pts_us for r in responses[:3]] == [0, 33_333, 66_666]
    assert b"".join(r.frame.audio.data for r in responses) == pcm
    picture = cv2.imdecode(np.frombuffer(responses[5].frame.video.data, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (240, 320, 3)


async def _idle_rgb(stub: lipsync_pb2_grpc.LipsyncServiceStub, count: int) -> list[np.ndarray]:
    frames = []
    request = lipsync_pb2.StreamIdleFramesRequest(
        pixel_format=media_pb2.PIXEL_FORMAT_RGB24, max_frames=count, unpaced=True
    )
    async for response in stub.StreamIdleFrames(request):
        video = response.frame
        frames.append(np.frombuffer(video.data, np.uint8).reshape(video.height, video.width, 3))
    return frames


async def test_the_mouth_moves_with_loud_speech_and_stays_closed_in_silence(
    stub: lipsync_pb2_grpc.LipsyncServiceStub,
) -> None:
    pcm = speech_like(1.0, loud=False) + speech_like(2.0) + speech_like(1.0, loud=False)
    frames = rgb_frames(await animate(stub, animate_requests(pcm, config=RGB)))
    idle = await _idle_rgb(stub, 100)
    assert len(frames) == 100

    mouth = (slice(140, 185), slice(95, 161))  # around the drawn mouth at 256 px
    upper = (slice(0, 120), slice(None))

    def mouth_change(index: int) -> float:
        diff = np.abs(frames[index][mouth].astype(int) - idle[index][mouth].astype(int))
        return float(diff.mean())

    # Silence (frames 0-24, and 90-99 once the mouth has closed): the idle frames untouched.
    for index in [*range(25), *range(90, 100)]:
        assert np.array_equal(frames[index], idle[index]), index
    # Loud speech opens the mouth in most frames, and changes nothing above it.
    speaking = [mouth_change(i) for i in range(26, 75)]
    assert sum(change > 4 for change in speaking) > 0.6 * len(speaking)
    for index in range(26, 75):
        assert np.array_equal(frames[index][upper], idle[index][upper])
    # The head keeps moving through the idle loop while speaking.
    assert not np.array_equal(frames[30][upper], frames[50][upper])


async def test_frames_asked_for_at_a_halved_size_are_the_full_frames_scaled(
    stub: lipsync_pb2_grpc.LipsyncServiceStub,
) -> None:
    # The drawn avatar is drawn at the size asked for (the mouth's region only, issue 20):
    # what comes out must be the full-size frames halved, idle and talking alike.
    pcm = speech_like(0.6, loud=False) + speech_like(1.4)
    full = rgb_frames(await animate(stub, animate_requests(pcm, config=RGB)))
    small_config = lipsync_pb2.AnimateConfig(
        pixel_format=media_pb2.PIXEL_FORMAT_RGB24, width=64, height=64
    )
    small = rgb_frames(await animate(stub, animate_requests(pcm, config=small_config)))
    assert len(small) == len(full) == 50
    idle = await _idle_rgb(stub, 50)
    talking = 0
    for index, (big, little) in enumerate(zip(full, small, strict=True)):
        assert little.shape == (64, 64, 3)
        expected = cv2.resize(cv2.resize(big, (128, 128)), (64, 64))  # halved twice
        assert np.array_equal(little, expected), index
        talking += not np.array_equal(big, idle[index])
    assert talking > 10  # the stream did speak


async def test_viseme_hints_shape_the_mouth_even_without_sound(
    stub: lipsync_pb2_grpc.LipsyncServiceStub,
) -> None:
    silent = speech_like(2.0, loud=False)
    hints = lipsync_pb2.AnimateAudio(
        visemes=[
            speech_pb2.VisemeEvent(viseme=speech_pb2.VISEME_AA, start_ms=400, end_ms=1200),
        ]
    )
    requests = animate_requests(silent, config=RGB, chunk_bytes=64000)
    requests.insert(1, lipsync_pb2.StreamingAnimateRequest(audio=hints))
    frames = rgb_frames(await animate(stub, requests))
    idle = await _idle_rgb(stub, 50)
    mouth = (slice(140, 185), slice(95, 161))
    assert np.array_equal(frames[5][mouth], idle[5][mouth])
    diff = np.abs(frames[20][mouth].astype(int) - idle[20][mouth].astype(int)).mean()
    assert diff > 8


async def test_the_first_frame_leaves_once_its_own_audio_is_in(
    stub: lipsync_pb2_grpc.LipsyncServiceStub,
) -> None:
    # Send exactly one frame of audio and keep the stream open: the frame must come back
    # without waiting for more audio or the end of input.
    more = asyncio.Event()

    async def send() -> object:
        yield lipsync_pb2.StreamingAnimateRequest(config=lipsync_pb2.AnimateConfig())
        yield lipsync_pb2.StreamingAnimateRequest(
            audio=lipsync_pb2.AnimateAudio(data=speech_like(0.04))
        )
        await more.wait()

    call = stub.StreamingAnimate(send())
    # A generous guard, not a timing check: without the frame the read would wait forever.
    first = await asyncio.wait_for(call.read(), timeout=60)
    assert first.frame_index == 0
    assert len(first.frame.audio.data) == 640 * 2
    more.set()
    assert await call.read() == grpc.aio.EOF


async def test_concurrent_streams_each_get_their_own_exact_audio(
    stub: lipsync_pb2_grpc.LipsyncServiceStub,
) -> None:
    pcm = speech_like(2.0)
    inputs = [pcm[i * 400 :] + pcm[: i * 400] for i in range(4)]  # a different start each
    results = await asyncio.gather(*(animate(stub, animate_requests(pcm)) for pcm in inputs))
    for pcm, responses in zip(inputs, results, strict=True):
        assert len(responses) == 50
        assert b"".join(r.frame.audio.data for r in responses) == pcm


@pytest.mark.parametrize(
    ("requests", "code", "words"),
    [
        (
            [lipsync_pb2.StreamingAnimateRequest(audio=lipsync_pb2.AnimateAudio(data=b"\0\0"))],
            grpc.StatusCode.INVALID_ARGUMENT,
            "config",
        ),
        (animate_requests(b"\0\0\0"), grpc.StatusCode.INVALID_ARGUMENT, "16-bit"),
        (
            animate_requests(bytes(70_000), chunk_bytes=70_000),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "exceeds",
        ),
        (
            animate_requests(b"", config=lipsync_pb2.AnimateConfig(fps=7)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "divide",
        ),
        (
            animate_requests(b"", config=lipsync_pb2.AnimateConfig(fps=90)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "fps",
        ),
        (
            animate_requests(
                b"",
                config=lipsync_pb2.AnimateConfig(audio_format=media_pb2.AudioFormat(channels=2)),
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "mono",
        ),
        (
            animate_requests(
                b"",
                config=lipsync_pb2.AnimateConfig(
                    audio_format=media_pb2.AudioFormat(sample_rate_hz=96000)
                ),
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "sample rate",
        ),
        (
            animate_requests(b"", config=lipsync_pb2.AnimateConfig(width=101)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "width",
        ),
        (
            animate_requests(b"", config=lipsync_pb2.AnimateConfig(avatar_id="nobody")),
            grpc.StatusCode.NOT_FOUND,
            "nobody",
        ),
        (
            animate_requests(b"", config=lipsync_pb2.AnimateConfig(avatar_id="../etc")),
            grpc.StatusCode.NOT_FOUND,
            "not found",
        ),
        (
            animate_requests(b"", config=lipsync_pb2.AnimateConfig(start_idle_index=-1)),
            grpc.StatusCode.INVALID_ARGUMENT,
            "start_idle_index",
        ),
        ([], grpc.StatusCode.INVALID_ARGUMENT, "empty stream"),
    ],
    ids=[
        "audio-first",
        "odd-bytes",
        "chunk-too-big",
        "fps-not-dividing",
        "fps-range",
        "stereo",
        "rate",
        "odd-width",
        "unknown-avatar",
        "bad-avatar-id",
        "negative-start",
        "empty",
    ],
)
async def test_bad_input_gets_a_clear_status_and_other_streams_go_on(
    stub: lipsync_pb2_grpc.LipsyncServiceStub,
    requests: list[lipsync_pb2.StreamingAnimateRequest],
    code: grpc.StatusCode,
    words: str,
) -> None:
    good_pcm = speech_like(1.0)
    good = asyncio.ensure_future(animate(stub, animate_requests(good_pcm)))
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await animate(stub, requests)
    assert failure.value.code() == code
    assert words in failure.value.details()
    responses = await good
    assert b"".join(r.frame.audio.data for r in responses) == good_pcm


async def test_the_stream_limit_answers_resource_exhausted(
    service: LipsyncServicer, stub: lipsync_pb2_grpc.LipsyncServiceStub
) -> None:
    service.settings.max_streams = 1
    hold = asyncio.Event()

    async def send() -> object:
        yield lipsync_pb2.StreamingAnimateRequest(config=lipsync_pb2.AnimateConfig())
        await hold.wait()

    first = stub.StreamingAnimate(send())
    await asyncio.sleep(0.3)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        # Config only: a client still writing audio when the server ends the call can see its
        # own write fail (INTERNAL) before the status arrives.
        await animate(stub, animate_requests(b""))
    assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    hold.set()
    assert await first.read() == grpc.aio.EOF


async def test_a_client_cancelling_mid_stream_is_no_error(
    service: LipsyncServicer,
    stub: lipsync_pb2_grpc.LipsyncServiceStub,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The gateway cancels StreamingAnimate at every barge-in: a normal event, not an error.
    caplog.set_level(logging.DEBUG)
    more = asyncio.Event()

    async def send() -> object:
        yield lipsync_pb2.StreamingAnimateRequest(config=lipsync_pb2.AnimateConfig())
        pcm = speech_like(0.4)
        for i in range(0, len(pcm), 1280):
            yield lipsync_pb2.StreamingAnimateRequest(
                audio=lipsync_pb2.AnimateAudio(data=pcm[i : i + 1280])
            )
        await more.wait()

    call = stub.StreamingAnimate(send())
    assert (await call.read()).frame_index == 0
    call.cancel()

    def ours() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name.startswith("lipsync")]

    # Wait (with a generous guard) until the service has seen the cancel.
    for _ in range(200):
        if service._streams == 0 and any("cancelled" in message for message in ours()):
            break
        await asyncio.sleep(0.05)
    # The stream's slot is free again, and nothing was logged as an error.
    assert service._streams == 0
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    assert any("cancelled" in message for message in ours())


async def test_a_stream_continues_from_the_idle_frame_on_screen(
    service: LipsyncServicer, stub: lipsync_pb2_grpc.LipsyncServiceStub
) -> None:
    # In silence the frames are the idle loop itself, from the frame the client says is shown
    # (taken modulo the loop's length), so the head does not jump when the tutor starts.
    idle = service.store.default
    count = idle.frame_count
    config = lipsync_pb2.AnimateConfig(
        pixel_format=media_pb2.PIXEL_FORMAT_RGB24, start_idle_index=count + 37
    )
    responses = await animate(stub, animate_requests(speech_like(0.4, loud=False), config=config))
    frames = rgb_frames(responses)
    assert [r.idle_index for r in responses] == [(37 + k) % count for k in range(10)]
    for k, frame in enumerate(frames):
        expected = cv2.cvtColor(idle.frames[(37 + k) % count], cv2.COLOR_BGR2RGB)
        assert np.array_equal(frame, expected)
