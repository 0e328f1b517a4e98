"""Client of lipsync_svc: speech in, frames that carry their own audio out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from vtutor.common.v1 import media_pb2
from vtutor.lipsync.v1 import lipsync_pb2, lipsync_pb2_grpc

from gateway.upstream.channels import ResponseStream, Upstream


@dataclass(frozen=True)
class AnimationSettings:
    """How the avatar is to be animated. ``pixel_format`` is a common.v1 PixelFormat value."""

    sample_rate_hz: int
    avatar_id: str = ""
    fps: int = 25
    pixel_format: int = media_pb2.PIXEL_FORMAT_I420
    width: int = 0
    height: int = 0
    # The avatar's idle-loop frame on screen when the turn starts (the head continues from it).
    start_idle_index: int = 0


@dataclass(frozen=True)
class AnimatedFrame:
    """A video frame and exactly the audio it covers; ``pts_us`` on the lip-sync timeline."""

    index: int
    width: int
    height: int
    pixel_format: int
    image: bytes
    audio: bytes
    pts_us: int
    sample_rate_hz: int


def _value(message: lipsync_pb2.StreamingAnimateResponse) -> AnimatedFrame | None:
    if not message.HasField("frame"):
        return None
    frame = message.frame
    return AnimatedFrame(
        index=message.frame_index,
        width=frame.video.width,
        height=frame.video.height,
        pixel_format=frame.video.pixel_format,
        image=frame.video.data,
        audio=frame.audio.data,
        pts_us=frame.video.pts_us,
        sample_rate_hz=frame.audio.sample_rate_hz,
    )


class LipsyncClient(Upstream):
    """Calls lipsync_svc."""

    stage = "lipsync"

    @property
    def stub(self) -> lipsync_pb2_grpc.LipsyncServiceStub:
        """The generated stub (admin pass-through uses it directly)."""
        return lipsync_pb2_grpc.LipsyncServiceStub(self.channel)

    async def animate(
        self, settings: AnimationSettings, audio: AsyncIterator[bytes]
    ) -> ResponseStream[AnimatedFrame]:
        """Starts animating ``audio`` (PCM s16le mono); ends after ``audio`` ends and flushes."""
        await self.ensure_ready()
        config = lipsync_pb2.AnimateConfig(
            avatar_id=settings.avatar_id,
            audio_format=media_pb2.AudioFormat(
                encoding=media_pb2.AUDIO_ENCODING_PCM_S16LE,
                sample_rate_hz=settings.sample_rate_hz,
                channels=1,
            ),
            fps=settings.fps,
            pixel_format=settings.pixel_format,
            width=settings.width,
            height=settings.height,
            start_idle_index=settings.start_idle_index,
        )

        async def requests() -> AsyncIterator[lipsync_pb2.StreamingAnimateRequest]:
            yield lipsync_pb2.StreamingAnimateRequest(config=config)
            async for chunk in audio:
                yield lipsync_pb2.StreamingAnimateRequest(
                    audio=lipsync_pb2.AnimateAudio(data=chunk)
                )

        call = self.stub.StreamingAnimate(requests(), timeout=self.settings.turn_timeout_s)
        return ResponseStream(self.stage, call, _value, first_timeout_s=None, what="frame")
