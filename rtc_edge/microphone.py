"""The student's microphone: decoded WebRTC audio -> mono -> 16 kHz s16le for Converse."""

from __future__ import annotations

import logging
from collections.abc import Callable

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from svc_core.audio import StreamResampler

logger = logging.getLogger(__name__)


class MicrophoneConverter:
    """Turns decoded frames (aiortc gives s16 stereo 48 kHz) into mono PCM at ``target_rate``.

    The resampler keeps its filter state between frames; it is rebuilt if the input rate
    changes (a renegotiated codec).
    """

    def __init__(self, target_rate: int = 16000) -> None:
        self.target_rate = target_rate
        self._resampler: StreamResampler | None = None

    def convert(self, frame: av.AudioFrame) -> bytes:
        """One decoded frame as mono s16le at the target rate (may be short: filter delay)."""
        channels = len(frame.layout.channels)
        samples = frame.to_ndarray()
        if frame.format.is_planar:
            mono = samples.astype(np.float32).mean(axis=0)
        else:
            mono = samples.reshape(-1, channels).astype(np.float32).mean(axis=1)
        if frame.format.name not in ("s16", "s16p"):
            # Float formats are in [-1, 1]; aiortc decodes Opus to s16, this is a safety net.
            mono = mono * 32768.0
        pcm = np.clip(mono, -32768, 32767).astype("<i2").tobytes()
        if self._resampler is None or self._resampler.from_rate != frame.sample_rate:
            self._resampler = StreamResampler(frame.sample_rate, self.target_rate)
        return self._resampler.process(pcm)


async def forward_microphone(
    track: MediaStreamTrack, send: Callable[[bytes], None], *, target_rate: int = 16000
) -> None:
    """Reads ``track`` until it ends, handing each converted chunk to ``send``."""
    converter = MicrophoneConverter(target_rate)
    frames = 0
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            break
        if not isinstance(frame, av.AudioFrame):
            continue
        frames += 1
        send(converter.convert(frame))
    logger.debug("microphone track ended after %d frames", frames)
