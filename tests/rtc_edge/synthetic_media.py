"""Synthetic media frames for the edge's tests: a flat picture and a tone, paired as the
gateway pairs them (one 40 ms video frame with the 40 ms of audio it covers)."""

from __future__ import annotations

import numpy as np
from vtutor.common.v1 import media_pb2

from rtc_edge.converse_events import TutorAudio, TutorFrame
from rtc_edge.video_encoding import I420Image


def i420_bytes(width: int, height: int, luma: int) -> bytes:
    """A flat I420 picture of brightness ``luma``."""
    y = np.full(width * height, luma, dtype=np.uint8)
    uv = np.full(width * height // 2, 128, dtype=np.uint8)
    return np.concatenate([y, uv]).tobytes()


def flat_image(size: int, luma: int) -> I420Image:
    """A flat square picture of brightness ``luma``."""
    data = np.frombuffer(i420_bytes(size, size, luma), dtype=np.uint8)
    return I420Image(size, size, data.reshape(size * 3 // 2, size))


def tone(index: int, *, fps: int = 25, rate: int = 48000, amplitude: float = 0.3) -> bytes:
    """The 1/fps s of a 300 Hz tone that frame ``index`` covers, mono s16le."""
    samples = rate // fps
    t = (np.arange(samples) + index * samples) / rate
    return (amplitude * 32767 * np.sin(2 * np.pi * 300 * t)).astype("<i2").tobytes()


def media_frame(
    index: int,
    *,
    fps: int = 25,
    rate: int = 48000,
    luma: int = 200,
    size: int = 64,
    amplitude: float = 0.3,
    pts_offset_us: int = 0,
    turn_id: str = "turn-1",
) -> TutorFrame:
    """Frame ``index`` of a turn: a picture and exactly the audio it covers."""
    pts_us = pts_offset_us + index * 1_000_000 // fps
    pcm = tone(index, fps=fps, rate=rate, amplitude=amplitude)
    return TutorFrame(
        turn_id=turn_id,
        image=flat_image(size, luma),
        pts_us=pts_us,
        audio=TutorAudio(turn_id=turn_id, pcm=pcm, sample_rate_hz=rate, pts_us=pts_us),
    )


def media_frame_proto(index: int, *, size: int = 64, luma: int = 200) -> media_pb2.MediaFrame:
    """Frame ``index`` as the gateway sends it (for the gateway link's conversion)."""
    pts_us = index * 40_000
    return media_pb2.MediaFrame(
        video=media_pb2.VideoFrame(
            width=size,
            height=size,
            pixel_format=media_pb2.PIXEL_FORMAT_I420,
            data=i420_bytes(size, size, luma),
            pts_us=pts_us,
        ),
        audio=media_pb2.AudioChunk(data=tone(index), pts_us=pts_us, sample_rate_hz=48000),
    )
