"""GetAvatarPreview's talking sample: the avatar speaking speech the caller brings, as MP4."""

from __future__ import annotations

import io

import av
import grpc
import numpy as np
import pytest
from vtutor.common.v1 import media_pb2
from vtutor.lipsync.v1 import lipsync_pb2, lipsync_pb2_grpc

from tests.lipsync_svc.conftest import speech_like

pytestmark = pytest.mark.integration


def _speech(pcm: bytes, rate: int = 16000, channels: int = 1) -> lipsync_pb2.PreviewSpeech:
    return lipsync_pb2.PreviewSpeech(
        audio_format=media_pb2.AudioFormat(sample_rate_hz=rate, channels=channels), data=pcm
    )


async def test_the_preview_carries_a_talking_sample_when_given_speech(
    stub: lipsync_pb2_grpc.LipsyncServiceStub,
) -> None:
    plain = await stub.GetAvatarPreview(lipsync_pb2.GetAvatarPreviewRequest())
    assert plain.talking_video == b"" and plain.mime_type == "image/jpeg"

    pcm = speech_like(1.2)
    reply = await stub.GetAvatarPreview(lipsync_pb2.GetAvatarPreviewRequest(speech=_speech(pcm)))
    assert reply.talking_video_mime_type == "video/mp4" and reply.image == plain.image
    with av.open(io.BytesIO(reply.talking_video)) as container:
        assert container.streams.audio, "the sample carries its speech"
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 30  # 1.2 s at 25 fps
    assert frames[0].shape[0] <= 512 and frames[0].shape[1] <= 512
    # The mouth moves with the speech: against the idle loop under them, the frames differ
    # around the mouth (the drawn avatar's is at 60% of its height), not above it (where only
    # the video coding differs).
    idle = []
    request = lipsync_pb2.StreamIdleFramesRequest(
        pixel_format=media_pb2.PIXEL_FORMAT_RGB24, max_frames=len(frames), unpaced=True
    )
    async for response in stub.StreamIdleFrames(request):
        frame = response.frame
        idle.append(np.frombuffer(frame.data, np.uint8).reshape(frame.height, frame.width, 3))
    difference = np.abs(np.stack(frames).astype(np.float32) - np.stack(idle)).mean(axis=(0, 3))
    h, w = difference.shape
    mouth = float(difference[int(0.55 * h) : int(0.68 * h), int(0.4 * w) : int(0.6 * w)].mean())
    top = float(difference[: int(0.45 * h)].mean())
    assert mouth > 3 * top, (mouth, top)


@pytest.mark.parametrize(
    ("speech", "words"),
    [
        (_speech(speech_like(10.5)), "longer than 10 s"),
        (_speech(speech_like(1.0), channels=2), "mono"),
        (_speech(b""), "needs speech"),
    ],
    ids=["too-long", "stereo", "empty"],
)
async def test_bad_speech_for_a_talking_sample_is_invalid_argument(
    stub: lipsync_pb2_grpc.LipsyncServiceStub, speech: lipsync_pb2.PreviewSpeech, words: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await stub.GetAvatarPreview(lipsync_pb2.GetAvatarPreviewRequest(speech=speech))
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert words in (failure.value.details() or "")
