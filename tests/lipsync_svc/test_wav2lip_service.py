"""The service running the wav2lip engine (random weights): concurrent streams, exact audio.
Skipped where torch is not installed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from vtutor.lipsync.v1 import lipsync_pb2, lipsync_pb2_grpc

from lipsync_svc.config import LipsyncSettings
from lipsync_svc.server import LipsyncServicer
from tests.lipsync_svc.conftest import animate, animate_requests, speech_like
from tests.support.grpc_servers import running_server

pytestmark = pytest.mark.integration


async def test_the_service_animates_with_wav2lip(wav2lip_checkpoint: Path, tmp_path: Path) -> None:
    settings = LipsyncSettings(
        port=0,
        data_dir=tmp_path,
        engine="wav2lip",
        device="cpu",
        wav2lip_checkpoint=wav2lip_checkpoint,
        default_avatar_size=256,
        grace_period_s=0,
    )
    service = LipsyncServicer.from_settings(settings)
    await service.start()
    pcm = speech_like(1.0)
    try:
        async with (
            running_server([service.binding], settings) as server,
            grpc.aio.insecure_channel(server.address) as channel,
        ):
            stub = lipsync_pb2_grpc.LipsyncServiceStub(channel)
            results = await asyncio.gather(
                animate(stub, animate_requests(pcm)), animate(stub, animate_requests(pcm))
            )
    finally:
        await service.stop()
    for responses in results:
        assert len(responses) == 25
        assert [r.frame_index for r in responses] == list(range(25))
        assert b"".join(r.frame.audio.data for r in responses) == pcm


async def test_wav2lip_sends_the_first_frame_once_its_own_audio_is_in(
    wav2lip_checkpoint: Path, tmp_path: Path
) -> None:
    # No look-ahead: one frame of audio (40 ms) yields the first frame while the stream stays
    # open (the mel window is taken from the past, not 200 ms of future speech).
    settings = LipsyncSettings(
        port=0,
        data_dir=tmp_path,
        engine="wav2lip",
        device="cpu",
        wav2lip_checkpoint=wav2lip_checkpoint,
        default_avatar_size=256,
        grace_period_s=0,
    )
    service = LipsyncServicer.from_settings(settings)
    await service.start()
    more = asyncio.Event()

    async def send() -> object:
        yield lipsync_pb2.StreamingAnimateRequest(config=lipsync_pb2.AnimateConfig())
        yield lipsync_pb2.StreamingAnimateRequest(
            audio=lipsync_pb2.AnimateAudio(data=speech_like(0.04))
        )
        await more.wait()

    try:
        async with (
            running_server([service.binding], settings) as server,
            grpc.aio.insecure_channel(server.address) as channel,
        ):
            call = lipsync_pb2_grpc.LipsyncServiceStub(channel).StreamingAnimate(send())
            # A generous guard, not a timing check: without the frame the read waits forever.
            first = await asyncio.wait_for(call.read(), timeout=120)
            assert first.frame_index == 0 and len(first.frame.audio.data) == 640 * 2
            more.set()
            assert await call.read() == grpc.aio.EOF
    finally:
        await service.stop()
