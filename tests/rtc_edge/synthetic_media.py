"""Synthetic media frames for the edge's tests: a flat picture and a tone, paired as the
gateway pairs them (one 40 ms video frame with the 40 ms of audio it covers)."""

from __future__ import annotations

import numpy as np
from vtutor.common.v1 import media_pb2


def i420_bytes(width: int, height: int, luma: int) -> bytes:
    """A flat I420 picture of brightness ``luma``."""
    y = np.full(width * height, luma, dtype=np.uint8)
    uv = np.full(width * height // 2, 128, dtype=np.uint8)
    return np.concatenate([y, uv]).tobytes()


def media_frame(
    index: int,
    *,
    fps: int = 25,
    rate: int = 48000,
    luma: int = 200,
    size: int = 64,
    amplitude: float = 0.3,
    pts_offset_us: int = 0,
) -> media_pb2.MediaFrame:
    """Frame ``index`` of a turn: a picture and exactly the audio it covers."""
    pts_us = pts_offset_us + index * 1_000_000 // fps
    samples = rate // fps
    t = (np.arange(samples) + index * samples) / rate
    tone = (amplitude * 32767 * np.sin(2 * np.pi * 300 * t)).astype("<i2").tobytes()
    return media_pb2.MediaFrame(
        video=media_pb2.VideoFrame(
            width=size,
            height=size,
            pixel_format=media_pb2.PIXEL_FORMAT_I420,
            data=i420_bytes(size, size, luma),
            pts_us=pts_us,
        ),
        audio=media_pb2.AudioChunk(data=tone, pts_us=pts_us, sample_rate_hz=rate),
    )
