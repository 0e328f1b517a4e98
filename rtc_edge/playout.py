"""One peer's outgoing media: bounded queues of the tutor's frames, timed by their pts.

The gateway sends each video frame paired with exactly the audio it covers. Both halves get
the same due time (local clock) when they are queued, and each track plays what is due at its
own tick, so audio and video cannot drift apart. Between turns the video shows the avatar's
idle loop and the audio is silence. An interrupted turn's queued media is dropped at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from vtutor.common.v1 import media_pb2

from rtc_edge.idle_loop import I420Image, i420_from_proto, still_frame
from svc_core.audio import PcmFramer, StreamResampler

logger = logging.getLogger(__name__)

AUDIO_RATE = 48000  # what Opus encodes; the edge asks the gateway for this rate
AUDIO_PTIME_S = 0.02
AUDIO_FRAME_SAMPLES = int(AUDIO_RATE * AUDIO_PTIME_S)
SILENCE = bytes(2 * AUDIO_FRAME_SAMPLES)

# Media is queued this far ahead of "now" when a turn starts, so the first frame's audio and
# video both land on a tick of their tracks rather than one of them a tick late.
START_LEAD_S = 0.05
# Audio more than this late is dropped: playing it would put sound behind its picture.
STALE_AUDIO_S = 0.1
# A jump in the gateway's pts larger than this while media is queued is treated as contiguous:
# the gap is not silence the student should wait through.
MAX_PTS_GAP_S = 1.0


@dataclass
class PlayoutStats:
    """Counters for tests and logs."""

    video_frames_played: int = 0
    audio_frames_played: int = 0
    idle_frames_played: int = 0
    dropped_on_interrupt: int = 0
    stale_audio_dropped: int = 0


class MediaPlayout:
    """Queues of one peer's media and the logic its tracks pull from.

    Args:
        fps: Video frame rate of the outgoing track.
        buffer_s: Seconds of media held at most; ``wait_for_room`` blocks past that.
        fallback: Picture shown while no idle loop is available.
        on_playback: Called with "speaking" when a turn's first frame plays and "listening"
            when its queue runs dry.
        clock: Monotonic clock in seconds (tests pass their own).
    """

    def __init__(
        self,
        *,
        fps: int = 25,
        buffer_s: float = 4.0,
        fallback: I420Image | None = None,
        on_playback: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fps = fps
        self.clock = clock
        self.stats = PlayoutStats()
        self._video: deque[tuple[float, media_pb2.VideoFrame]] = deque()
        self._audio: deque[tuple[float, bytes]] = deque()
        self._video_capacity = max(1, int(buffer_s * fps))
        self._audio_capacity = max(1, int(buffer_s / AUDIO_PTIME_S))
        self._room = asyncio.Event()
        self._anchor: float | None = None  # local time of gateway pts 0
        self._last_due: float | None = None
        self._framer = PcmFramer(AUDIO_FRAME_SAMPLES)
        self._resamplers: dict[int, StreamResampler] = {}
        self._idle: list[I420Image] = []
        self._idle_index = 0
        self._fallback = fallback or still_frame(512, 512)
        self._last_turn_image: I420Image | None = None
        self._speaking = False
        self._on_playback = on_playback
        self.closed = False

    # Producer side (the gateway reader) ------------------------------------------------------

    def set_idle_loop(self, frames: list[I420Image]) -> None:
        """Uses ``frames`` (looped) while no turn plays."""
        self._idle = list(frames)
        self._idle_index = 0

    def push_media_frame(self, frame: media_pb2.MediaFrame) -> None:
        """Queues a video frame and its audio with one due time."""
        due = self._due(frame.video.pts_us or frame.audio.pts_us)
        self._video.append((due, frame.video))
        self._queue_audio(due, frame.audio)

    def push_audio(self, chunk: media_pb2.AudioChunk) -> None:
        """Queues audio without video (audio-only sessions)."""
        self._queue_audio(self._due(chunk.pts_us), chunk)

    def end_of_turn(self) -> None:
        """Queues the turn's last partial 20 ms of audio, padded with silence."""
        rest = self._framer.flush(pad=True)
        if rest is not None:
            due = self._audio[-1][0] + AUDIO_PTIME_S if self._audio else self.clock()
            self._audio.append((due, rest))

    def drop_queued(self) -> int:
        """Drops every queued frame now (the turn was interrupted); returns how many."""
        dropped = len(self._video) + len(self._audio)
        self._video.clear()
        self._audio.clear()
        self._framer = PcmFramer(AUDIO_FRAME_SAMPLES)
        self._resamplers.clear()
        self._anchor = None
        self._last_due = None
        self.stats.dropped_on_interrupt += dropped
        self._room.set()
        return dropped

    async def wait_for_room(self) -> None:
        """Waits while the queues hold ``buffer_s`` of media (back-pressure on the reader)."""
        while not self.closed and (
            len(self._video) >= self._video_capacity or len(self._audio) >= self._audio_capacity
        ):
            self._room.clear()
            await self._room.wait()

    @property
    def queued_video(self) -> int:
        """Video frames waiting to play."""
        return len(self._video)

    @property
    def queued_audio(self) -> int:
        """20 ms audio frames waiting to play."""
        return len(self._audio)

    def close(self) -> None:
        """Drops everything and wakes a waiting producer."""
        self.closed = True
        self._video.clear()
        self._audio.clear()
        self._room.set()

    def _due(self, pts_us: int) -> float:
        now = self.clock()
        pts_s = pts_us / 1e6
        idle = not self._video and not self._audio
        if self._anchor is None or idle:
            self._anchor = now + START_LEAD_S - pts_s
        due = self._anchor + pts_s
        if due < now:
            # The gateway fell behind real time (or the clock jumped): play from now.
            self._anchor = now - pts_s
            due = now
        elif self._last_due is not None and due > self._last_due + MAX_PTS_GAP_S:
            self._anchor = self._last_due + 1 / self.fps - pts_s
            due = self._last_due + 1 / self.fps
        self._last_due = due
        return due

    def _queue_audio(self, due: float, chunk: media_pb2.AudioChunk) -> None:
        if not chunk.data:
            return
        rate = chunk.sample_rate_hz or AUDIO_RATE
        pcm = chunk.data
        if rate != AUDIO_RATE:
            resampler = self._resamplers.get(rate)
            if resampler is None:
                resampler = self._resamplers[rate] = StreamResampler(rate, AUDIO_RATE)
            pcm = resampler.process(pcm)
        for index, piece in enumerate(self._framer.push(pcm)):
            self._audio.append((due + index * AUDIO_PTIME_S, piece))

    # Consumer side (the tracks) --------------------------------------------------------------

    def next_video(self, now: float) -> I420Image:
        """The picture to show at ``now``: the latest due turn frame, else the idle loop."""
        shown: media_pb2.VideoFrame | None = None
        while self._video and self._video[0][0] <= now + 0.5 / self.fps:
            shown = self._video.popleft()[1]
        if shown is not None:
            self._room.set()
            image = i420_from_proto(shown)
            if image is not None:
                self._last_turn_image = image
                self.stats.video_frames_played += 1
                self._set_speaking(True)
                return image
        if self._video and self._speaking and self._last_turn_image is not None:
            return self._last_turn_image  # between two frames of a turn
        if not self._video and not self._audio:
            self._set_speaking(False)
        return self._idle_image()

    def next_audio(self, now: float) -> bytes:
        """20 ms of audio to play at ``now``: the due piece of the turn, else silence."""
        while self._audio and self._audio[0][0] < now - STALE_AUDIO_S:
            self._audio.popleft()
            self.stats.stale_audio_dropped += 1
        if self._audio and self._audio[0][0] <= now + AUDIO_PTIME_S / 2:
            self._room.set()
            self.stats.audio_frames_played += 1
            return self._audio.popleft()[1]
        return SILENCE

    def _idle_image(self) -> I420Image:
        self.stats.idle_frames_played += 1
        if not self._idle:
            return self._fallback
        image = self._idle[self._idle_index % len(self._idle)]
        self._idle_index += 1
        return image

    def _set_speaking(self, speaking: bool) -> None:
        if speaking == self._speaking:
            return
        self._speaking = speaking
        if not speaking:
            self._last_turn_image = None
        if self._on_playback is not None:
            self._on_playback("speaking" if speaking else "listening")
