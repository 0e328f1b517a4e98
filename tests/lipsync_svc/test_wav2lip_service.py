"""The service running the wav2lip engine (random weights): concurrent streams, exact audio.
Skipped where torch is not installed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from vtutor.lipsync.v1 import lipsync_pb2_grpc

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
