"""The avatar's idle loop: fetched once per avatar with StreamIdleFrames, then looped locally."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import grpc
import numpy as np
from vtutor.common.v1 import media_pb2
from vtutor.gateway.v1 import admin_pb2, gateway_pb2_grpc

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class I420Image:
    """A planar YUV 4:2:0 picture: ``data`` has shape (height * 3 // 2, width)."""

    width: int
    height: int
    data: np.ndarray


def i420_from_proto(frame: media_pb2.VideoFrame) -> I420Image | None:
    """The frame as an I420 image; None for layouts the edge does not convert (JPEG)."""
    width, height = frame.width, frame.height
    if frame.pixel_format in (media_pb2.PIXEL_FORMAT_I420, media_pb2.PIXEL_FORMAT_UNSPECIFIED):
        if len(frame.data) != width * height * 3 // 2:
            return None
        plane = np.frombuffer(frame.data, dtype=np.uint8).reshape(height * 3 // 2, width)
        return I420Image(width, height, plane)
    if frame.pixel_format == media_pb2.PIXEL_FORMAT_RGB24:
        if len(frame.data) != width * height * 3:
            return None
        return rgb_to_i420(np.frombuffer(frame.data, dtype=np.uint8).reshape(height, width, 3))
    return None


def rgb_to_i420(rgb: np.ndarray) -> I420Image:
    """Converts an (h, w, 3) uint8 RGB array (even sides) to I420 with BT.601 coefficients."""
    height, width = rgb.shape[:2]
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    y = 0.257 * r + 0.504 * g + 0.098 * b + 16
    u = -0.148 * r - 0.291 * g + 0.439 * b + 128
    v = 0.439 * r - 0.368 * g - 0.071 * b + 128
    u = u.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))
    v = v.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3))
    planes = [np.clip(p, 0, 255).astype(np.uint8).ravel() for p in (y, u, v)]
    return I420Image(width, height, np.concatenate(planes).reshape(height * 3 // 2, width))


def still_frame(width: int, height: int) -> I420Image:
    """A plain dark-grey picture, shown when the avatar's idle loop cannot be fetched."""
    data = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
    data[:height] = 40
    return I420Image(width, height, data)


class IdleLoopCache:
    """Idle loops by avatar id, each fetched once and shared by every peer of this edge.

    Args:
        channel: The edge's channel to the gateway.
        api_key: Service credential for StreamIdleFrames; empty to use the caller's token.
        fps: Frame rate the loop is played at.
        max_frames: Frames fetched (the loop's length).
        timeout_s: Deadline of one fetch.
    """

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        api_key: str,
        fps: int,
        max_frames: int,
        timeout_s: float = 30.0,
    ) -> None:
        self._stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        self._api_key = api_key
        self._fps = fps
        self._max_frames = max_frames
        self._timeout_s = timeout_s
        self._loops: dict[str, list[I420Image]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, avatar_id: str, *, token: str) -> list[I420Image]:
        """The loop of ``avatar_id`` ("" for the default); empty if it cannot be fetched."""
        if avatar_id in self._loops:
            return self._loops[avatar_id]
        lock = self._locks.setdefault(avatar_id, asyncio.Lock())
        async with lock:
            if avatar_id not in self._loops:
                frames = await self._fetch(avatar_id, token)
                if frames:
                    # Failures are not cached: the next peer tries again.
                    self._loops[avatar_id] = frames
                return frames
            return self._loops[avatar_id]

    async def _fetch(self, avatar_id: str, token: str) -> list[I420Image]:
        request = admin_pb2.StreamIdleFramesRequest(
            avatar_id=avatar_id,
            fps=self._fps,
            pixel_format=media_pb2.PIXEL_FORMAT_I420,
            max_frames=self._max_frames,
            unpaced=True,
        )
        credentials = [c for c in (self._api_key, token) if c]
        for credential in credentials:
            metadata = (("authorization", f"Bearer {credential}"),)
            frames: list[I420Image] = []
            try:
                call = self._stub.StreamIdleFrames(
                    request, metadata=metadata, timeout=self._timeout_s
                )
                async for response in call:
                    image = i420_from_proto(response.frame)
                    if image is not None:
                        frames.append(image)
            except grpc.aio.AioRpcError as error:
                if error.code() == grpc.StatusCode.UNAUTHENTICATED:
                    continue  # the next credential may be accepted
                logger.warning("idle loop of avatar %r unavailable: %s", avatar_id, error.code())
                return []
            logger.info("idle loop of avatar %r: %d frames", avatar_id, len(frames))
            return frames
        logger.warning(
            "idle loop of avatar %r refused: set RTC_GATEWAY_API_KEY to the gateway's API key",
            avatar_id,
        )
        return []
