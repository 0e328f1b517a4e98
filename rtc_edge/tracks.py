"""Outgoing WebRTC tracks whose ``recv()`` paces frames in real time from a MediaPlayout."""

from __future__ import annotations

import asyncio
from fractions import Fraction

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from rtc_edge.playout import AUDIO_FRAME_SAMPLES, AUDIO_PTIME_S, AUDIO_RATE, MediaPlayout

VIDEO_CLOCK_RATE = 90000
# After a stall longer than this (CPU starved) ticks are skipped instead of sent in a burst.
MAX_LAG_S = 0.5


class _Ticker:
    """Real-time ticks of a fixed period; ``index`` is the current tick."""

    def __init__(self, period_s: float, playout: MediaPlayout) -> None:
        self.period_s = period_s
        self.playout = playout
        self.start: float | None = None
        self.index = 0

    async def next(self) -> float:
        clock = self.playout.clock
        if self.start is None:
            self.start = clock()
            return self.start
        self.index += 1
        due = self.start + self.index * self.period_s
        wait = due - clock()
        if wait > 0:
            await asyncio.sleep(wait)
        elif wait < -MAX_LAG_S:
            self.index = int((clock() - self.start) / self.period_s)
        return clock()


class PlayoutVideoTrack(MediaStreamTrack):
    """The tutor's video: turn frames when due, the idle loop otherwise."""

    kind = "video"

    def __init__(self, playout: MediaPlayout) -> None:
        super().__init__()
        self._playout = playout
        self._ticker = _Ticker(1 / playout.fps, playout)

    async def recv(self) -> av.VideoFrame:
        """The next frame, returned at its presentation time."""
        if self.readyState != "live" or self._playout.closed:
            raise MediaStreamError
        now = await self._ticker.next()
        image = self._playout.next_video(now)
        frame = av.VideoFrame.from_ndarray(image.data, format="yuv420p")
        frame.pts = round(self._ticker.index * VIDEO_CLOCK_RATE / self._playout.fps)
        frame.time_base = Fraction(1, VIDEO_CLOCK_RATE)
        return frame


class PlayoutAudioTrack(MediaStreamTrack):
    """The tutor's voice as 20 ms mono frames at 48 kHz; silence between turns."""

    kind = "audio"

    def __init__(self, playout: MediaPlayout) -> None:
        super().__init__()
        self._playout = playout
        self._ticker = _Ticker(AUDIO_PTIME_S, playout)

    async def recv(self) -> av.AudioFrame:
        """The next 20 ms, returned at its presentation time."""
        if self.readyState != "live" or self._playout.closed:
            raise MediaStreamError
        now = await self._ticker.next()
        pcm = self._playout.next_audio(now)
        samples = np.frombuffer(pcm, dtype="<i2").reshape(1, AUDIO_FRAME_SAMPLES)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._ticker.index * AUDIO_FRAME_SAMPLES
        frame.time_base = Fraction(1, AUDIO_RATE)
        return frame
