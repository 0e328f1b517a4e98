"""The avatar's idle loop: fetched once per avatar and size, encoded once per codec, shared.

While the tutor listens every peer shows the same loop, so the loop is encoded once per
(avatar, size, rate, codec) and every peer watching it sends the same packets, each from its
own position. A listening tutor then costs packetizing and sending, not encoding. The loop
has a key frame at its start and every ``keyframe_interval`` frames; a peer joins it (and
comes back to it after a turn) at a key frame.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass

import grpc
import numpy as np

from rtc_edge.gateway_link import fetch_idle_frames
from rtc_edge.video_encoding import EncodedFrame, EncoderSettings, I420Image, VideoEncoder

logger = logging.getLogger(__name__)

__all__ = ["EncodedLoop", "I420Image", "IdleLoopCache", "SharedIdleLoops", "still_frame"]


def still_frame(width: int, height: int) -> I420Image:
    """A plain dark-grey picture, shown when the avatar's idle loop cannot be fetched."""
    data = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
    data[:height] = 40
    return I420Image(width, height, data)


@dataclass(frozen=True)
class EncodedLoop:
    """An idle loop encoded once; ``frames[i]`` follows ``frames[i - 1]`` in one stream."""

    frames: tuple[EncodedFrame, ...]
    width: int
    height: int
    settings: EncoderSettings

    def keyframe_from(self, index: int) -> int:
        """The first key frame at or after ``index`` (wrapping to the loop's start)."""
        for i in range(index % len(self.frames), len(self.frames)):
            if self.frames[i].keyframe:
                return i
        return 0


def encode_loop(images: list[I420Image], settings: EncoderSettings) -> EncodedLoop:
    """Encodes ``images`` as one stream with a key frame every ``keyframe_interval`` frames.

    Blocking: call it off the event loop.
    """
    first = images[0]
    encoder = VideoEncoder(settings, first.width, first.height)
    try:
        frames = tuple(
            encoder.encode(image, keyframe=i % settings.keyframe_interval == 0)
            for i, image in enumerate(images)
        )
    finally:
        encoder.close()
    return EncodedLoop(frames, first.width, first.height, settings)


@functools.lru_cache(maxsize=16)
def still_loop(width: int, height: int, settings: EncoderSettings) -> EncodedLoop:
    """The still frame as a one-key-frame loop (encoded once per size and codec)."""
    return encode_loop([still_frame(width, height)] * settings.keyframe_interval, settings)


class IdleLoopCache:
    """Idle loop pictures by avatar, size and rate, each fetched once for this edge.

    Args:
        channel: The edge's channel to the gateway.
        api_key: Service credential for StreamIdleFrames; empty to use the caller's token.
        max_frames: Frames fetched (the loop's length).
        timeout_s: Deadline of one fetch.
    """

    def __init__(
        self, channel: grpc.aio.Channel, *, api_key: str, max_frames: int, timeout_s: float = 30.0
    ) -> None:
        self._channel = channel
        self._api_key = api_key
        self._max_frames = max_frames
        self._timeout_s = timeout_s
        self._loops: dict[tuple[str, int, int, int], list[I420Image]] = {}
        self._locks: dict[tuple[str, int, int, int], asyncio.Lock] = {}
        self.fetches = 0

    async def get(
        self, avatar_id: str, *, token: str, fps: int, width: int = 0, height: int = 0
    ) -> list[I420Image]:
        """The loop of ``avatar_id`` ("" for the default); empty if it cannot be fetched."""
        key = (avatar_id, width, height, fps)
        if key in self._loops:
            return self._loops[key]
        async with self._locks.setdefault(key, asyncio.Lock()):
            if key not in self._loops:
                self.fetches += 1
                frames = await fetch_idle_frames(
                    self._channel,
                    avatar_id,
                    credentials=[c for c in (self._api_key, token) if c],
                    fps=fps,
                    width=width,
                    height=height,
                    max_frames=self._max_frames,
                    timeout_s=self._timeout_s,
                )
                if frames:
                    # Failures are not cached: the next peer tries again.
                    self._loops[key] = frames
                return frames
            return self._loops[key]


class SharedIdleLoops:
    """Encoded idle loops by (avatar, size, rate, codec), each encoded once and shared.

    Args:
        pictures: Where the loops' pictures come from.
    """

    def __init__(self, pictures: IdleLoopCache) -> None:
        self._pictures = pictures
        self._loops: dict[tuple[str, int, int, EncoderSettings], EncodedLoop] = {}
        self._locks: dict[tuple[str, int, int, EncoderSettings], asyncio.Lock] = {}
        self.encodes = 0

    async def get(
        self,
        avatar_id: str,
        settings: EncoderSettings,
        *,
        token: str,
        width: int = 0,
        height: int = 0,
    ) -> EncodedLoop | None:
        """The encoded loop, or None when the avatar's pictures cannot be fetched."""
        key = (avatar_id, width, height, settings)
        loop = self._loops.get(key)
        if loop is not None:
            return loop
        async with self._locks.setdefault(key, asyncio.Lock()):
            if key not in self._loops:
                images = await self._pictures.get(
                    avatar_id, token=token, fps=settings.fps, width=width, height=height
                )
                if not images:
                    return None
                self.encodes += 1
                self._loops[key] = await asyncio.to_thread(encode_loop, images, settings)
                logger.info(
                    "idle loop of avatar %r encoded once: %s %dx%d, %d frames",
                    avatar_id,
                    settings.codec,
                    images[0].width,
                    images[0].height,
                    len(images),
                )
            return self._loops[key]
