"""Avatar and voice pass-through RPCs over real lipsync_svc and tts_svc processes."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import av
import grpc
import pytest
from vtutor.common.v1 import media_pb2
from vtutor.gateway.v1 import admin_pb2, gateway_pb2_grpc
from vtutor.lipsync.v1 import lipsync_pb2

from tests.gateway.conftest import RunningGateway, gateway_settings, start_gateway
from tests.gateway.gateway_client import SERVICE_AUTH
from tests.support.service_process import ServiceProcess

pytestmark = pytest.mark.integration


@pytest.fixture
async def media_gateway(
    tts_service: ServiceProcess, lipsync_service: ServiceProcess
) -> AsyncIterator[RunningGateway]:
    """A gateway with TTS and lip-sync behind it."""
    settings = gateway_settings(
        tts_address=tts_service.address, lipsync_address=lipsync_service.address
    )
    async for gateway in start_gateway(settings):
        yield gateway


async def test_avatars_and_voices_pass_through(media_gateway):
    async with grpc.aio.insecure_channel(media_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        voices = await stub.ListVoices(
            admin_pb2.ListVoicesRequest(language_code="en"), metadata=SERVICE_AUTH
        )
        assert voices.voices and voices.default_voice
        assert all(any(c.startswith("en") for c in v.language_codes) for v in voices.voices)

        avatars = await stub.ListAvatars(admin_pb2.ListAvatarsRequest(), metadata=SERVICE_AUTH)
        builtin = next(a for a in avatars.avatars if a.builtin)
        got = await stub.GetAvatar(
            admin_pb2.GetAvatarRequest(avatar_id=builtin.avatar_id), metadata=SERVICE_AUTH
        )
        assert got.avatar.avatar_id == builtin.avatar_id
        preview = await stub.GetAvatarPreview(
            admin_pb2.GetAvatarPreviewRequest(avatar_id=builtin.avatar_id), metadata=SERVICE_AUTH
        )
        assert preview.image[:2] == b"\xff\xd8" and preview.mime_type == "image/jpeg"

        frames = [
            r
            async for r in stub.StreamIdleFrames(
                admin_pb2.StreamIdleFramesRequest(
                    avatar_id=builtin.avatar_id,
                    max_frames=3,
                    unpaced=True,
                    width=64,
                    height=64,
                    pixel_format=media_pb2.PIXEL_FORMAT_I420,
                ),
                metadata=SERVICE_AUTH,
            )
        ]
        assert [f.frame_index for f in frames] == [0, 1, 2]
        assert all(len(f.frame.data) == 64 * 64 * 3 // 2 for f in frames)

        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await stub.GetAvatar(
                admin_pb2.GetAvatarRequest(avatar_id="no-such-avatar"), metadata=SERVICE_AUTH
            )
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_the_preview_can_talk_in_a_voice(media_gateway):
    async with grpc.aio.insecure_channel(media_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        avatars = await stub.ListAvatars(admin_pb2.ListAvatarsRequest(), metadata=SERVICE_AUTH)
        builtin = next(a for a in avatars.avatars if a.builtin)
        request = admin_pb2.GetAvatarPreviewRequest(
            avatar_id=builtin.avatar_id, talking=True, sample_text="Hello, shall we begin?"
        )
        preview = await stub.GetAvatarPreview(request, metadata=SERVICE_AUTH)
        assert preview.talking_video_mime_type == "video/mp4"
        container = av.open(io.BytesIO(preview.talking_video))
        kinds = {stream.type for stream in container.streams}
        audio = container.streams.audio[0]
        seconds = float(audio.duration * audio.time_base) if audio.duration else 0.0
        container.close()
        assert kinds == {"video", "audio"}
        assert 0.8 < seconds < 5, seconds  # the sentence, spoken

        still = await stub.GetAvatarPreview(
            admin_pb2.GetAvatarPreviewRequest(avatar_id=builtin.avatar_id), metadata=SERVICE_AUTH
        )
        assert not still.talking_video  # a sample only when asked for

        with pytest.raises(grpc.aio.AioRpcError) as too_long:
            await stub.GetAvatarPreview(
                admin_pb2.GetAvatarPreviewRequest(
                    avatar_id=builtin.avatar_id, talking=True, sample_text="word " * 100
                ),
                metadata=SERVICE_AUTH,
            )
        assert too_long.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "at most 300" in (too_long.value.details() or "")


async def test_create_avatar_checks_the_stream_and_passes_upstream_errors(media_gateway):
    async with grpc.aio.insecure_channel(media_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)

        async def chunk_first():  # type: ignore[no-untyped-def]
            yield admin_pb2.CreateAvatarRequest(video_chunk=b"\0" * 10)

        with pytest.raises(grpc.aio.AioRpcError) as wrong_order:
            async for _ in stub.CreateAvatar(chunk_first(), metadata=SERVICE_AUTH):
                pass
        assert wrong_order.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        async def not_a_video():  # type: ignore[no-untyped-def]
            yield admin_pb2.CreateAvatarRequest(
                spec=lipsync_pb2.AvatarSpec(avatar_id="gw-test", display_name="x")
            )
            yield admin_pb2.CreateAvatarRequest(video_chunk=b"this is not a video" * 100)

        with pytest.raises(grpc.aio.AioRpcError) as bad_video:
            async for _ in stub.CreateAvatar(not_a_video(), metadata=SERVICE_AUTH):
                pass
        assert bad_video.value.code() == grpc.StatusCode.INVALID_ARGUMENT
