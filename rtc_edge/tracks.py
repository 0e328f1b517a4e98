"""Outgoing WebRTC tracks whose ``recv()`` paces media in real time from a MediaPlayout.

Both tracks hand aiortc encoded packets where they can (the sender then only packetizes):
- video: while the tutor listens, the idle loop's shared packets (encoded once per avatar,
  size and codec, see ``idle_loop``); while a turn plays, the peer's own encoder, opened at
  the turn's first frame with a key frame and closed when the idle loop resumes, at one of
  its key frames. Every switch therefore lands on a key frame and decodes cleanly.
- audio: between turns one Opus packet of silence, encoded once per process; a turn's audio
  through the peer's own Opus encoder, stamped on the same timeline (aiortc's encoder would
  restamp frames from its own counter, which would jump the audio's RTP clock at every turn
  and break the browser's lip sync).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections import deque
from dataclasses import dataclass, replace
from fractions import Fraction

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.codecs.opus import OpusEncoder
from aiortc.mediastreams import MediaStreamError

from rtc_edge.idle_loop import EncodedLoop, still_loop
from rtc_edge.playout import AUDIO_FRAME_SAMPLES, AUDIO_PTIME_S, AUDIO_RATE, MediaPlayout
from rtc_edge.video_encoding import (
    VIDEO_CLOCK_RATE,
    EncodedFrame,
    EncoderSettings,
    EncoderUnavailable,
    I420Image,
    VideoCodecName,
    VideoEncoder,
    encoded_packet,
)

logger = logging.getLogger(__name__)

# After a stall longer than this (CPU starved) ticks are skipped instead of sent in a burst.
MAX_LAG_S = 0.5
# A video frame is picked and encoded this long before its tick and sent on the tick: aiortc's
# RTCP sender reports map RTP time to the time a packet was sent, which is what browsers sync
# audio and video by, and a browser holds back a frame that arrives late (and the ones after
# it), so a frame sent an encode late plays that much behind its sound. Encoding takes ~2 ms
# but 15-65 ms at a turn's start on a busy machine (a fresh encoder, its key frame): frames
# left their tick late by p99 44 ms with 15 ms, 7 ms with 30 (browser benchmark, 2 cores).
ENCODE_LEAD_S = 0.03
# A sample louder than this (of full scale) is heard: the same threshold the browser test uses.
AUDIBLE_PEAK = 0.02
ONSETS_KEPT = 16


@dataclass(frozen=True)
class Onset:
    """When a turn's picture or sound began, on the sender's media timeline.

    ``at`` is the nominal tick time on the wall clock (``time.time()``, seconds), so a test or
    a harness on the same host can compare it with what a receiver presented; ``pts`` is the
    RTP timestamp before aiortc adds its random origin (90 kHz video, 48 kHz audio).
    """

    at: float
    pts: int


def _wall_time(playout: MediaPlayout, tick: float) -> float:
    """``tick`` (the playout's media clock) on the wall clock."""
    return time.time() - (playout.clock() - tick)


class _Ticker:
    """Real-time ticks of a fixed period on the playout's media clock; ``index`` is the tick."""

    def __init__(self, period_s: float, playout: MediaPlayout) -> None:
        self.period_s = period_s
        self.playout = playout
        self.index = -1

    async def next(self, lead_s: float = 0.0) -> float:
        """Waits until ``lead_s`` before the next tick; returns the tick's time."""
        clock = self.playout.clock
        start = self.playout.start_clock()
        if self.index < 0:
            # The first tick of a track joins the shared clock at its next tick.
            self.index = max(0, math.ceil((clock() - start) / self.period_s - 1e-6))
        else:
            self.index += 1
        due = start + self.index * self.period_s
        wait = due - lead_s - clock()
        if wait > 0:
            await asyncio.sleep(wait)
        elif wait < -MAX_LAG_S:
            self.index = int((clock() - start) / self.period_s)
            due = start + self.index * self.period_s
        return due

    async def until(self, due: float) -> None:
        """Waits until ``due`` (a tick's time) if it is still ahead."""
        wait = due - self.playout.clock()
        if wait > 0:
            await asyncio.sleep(wait)


@dataclass
class VideoTrackStats:
    """What the video track sent: shared idle packets, and what its own encoder made."""

    idle_packets: int = 0
    turn_frames_encoded: int = 0
    turn_encoders_opened: int = 0
    keyframes: int = 0


class PlayoutVideoTrack(MediaStreamTrack):
    """The tutor's video as encoded packets: turn frames when due, the idle loop otherwise.

    Args:
        playout: The peer's media queues.
        settings: Encoder settings; the codec is set again once negotiated (``use_codec``).
        fallback_size: Size of the still frame shown until the idle loop is known.
    """

    kind = "video"

    def __init__(
        self,
        playout: MediaPlayout,
        settings: EncoderSettings,
        *,
        fallback_size: tuple[int, int] = (512, 512),
    ) -> None:
        super().__init__()
        self._playout = playout
        self.settings = settings
        self._fallback_size = fallback_size
        self._ticker = _Ticker(1 / playout.fps, playout)
        self._idle: EncodedLoop | None = None
        self._shown_loop: EncodedLoop | None = None
        self._idle_index = 0
        self._encoder: VideoEncoder | None = None
        self._opening: asyncio.Task[VideoEncoder] | None = None
        self.stats = VideoTrackStats()
        # The last turns' first frames (for A/V sync checks: the audio track keeps their sound).
        self.turn_onsets: deque[Onset] = deque(maxlen=ONSETS_KEPT)
        self._showing_turn = False

    @property
    def idle_position(self) -> int | None:
        """The frame of the avatar's idle loop shown now; None while a turn plays or before
        the loop is known (the still frame)."""
        loop = self._shown_loop
        if self._encoder is not None or loop is None or loop is not self._idle:
            return None
        return (self._idle_index - 1) % len(loop.frames)  # _idle_index is the next one

    def use_codec(self, codec: VideoCodecName) -> None:
        """The codec the peer negotiated (before media flows)."""
        self.settings = replace(self.settings, codec=codec)

    def show_idle_loop(self, loop: EncodedLoop) -> None:
        """Uses ``loop`` (encoded with this track's settings, in software) while no turn plays."""
        self._idle = loop

    async def recv(self) -> av.Packet:
        """The next frame's packet, returned at its presentation time."""
        if self.readyState != "live" or self._playout.closed:
            raise MediaStreamError
        tick = await self._ticker.next(lead_s=ENCODE_LEAD_S)
        image = self._playout.next_video(tick)
        if image is None and self._encoder is None and self._opening is None:
            upcoming = self._playout.upcoming_image()
            if upcoming is not None:
                # A turn is queued: open its encoder now, off the loop, so its first frame
                # leaves on its tick together with its first sound (not an encoder-open late).
                self._opening = asyncio.create_task(asyncio.to_thread(self._open_encoder, upcoming))
        encoded = self._next_idle() if image is None else await self._encode_turn(image)
        await self._ticker.until(tick)
        if encoded.keyframe:
            self.stats.keyframes += 1
        pts = round(self._ticker.index * VIDEO_CLOCK_RATE / self._playout.fps)
        if image is not None and not self._showing_turn:
            self.turn_onsets.append(Onset(_wall_time(self._playout, tick), pts))
        self._showing_turn = image is not None
        return encoded_packet(encoded, pts)

    async def _encode_turn(self, image: I420Image) -> EncodedFrame:
        keyframe = False
        if self._encoder is None and self._opening is not None:
            self._encoder, self._opening = await self._opening, None
            self.stats.turn_encoders_opened += 1
            keyframe = True  # the switch from the idle loop's stream starts with a key frame
        encoder = self._encoder
        if encoder is None or (encoder.width, encoder.height) != (image.width, image.height):
            encoder = self._encoder = await asyncio.to_thread(self._open_encoder, image)
            self.stats.turn_encoders_opened += 1
            keyframe = True
        self.stats.turn_frames_encoded += 1
        return await asyncio.to_thread(encoder.encode, image, keyframe=keyframe)

    def _open_encoder(self, image: I420Image) -> VideoEncoder:
        try:
            return VideoEncoder(self.settings, image.width, image.height)
        except EncoderUnavailable as error:
            if not self.settings.hardware:
                raise
            logger.error("%s; encoding in software instead", error)
            self.settings = replace(self.settings, hardware=False)
            return VideoEncoder(self.settings, image.width, image.height)

    def stop(self) -> None:
        """Ends the track (and an encoder still being opened)."""
        if self._opening is not None:
            self._opening.cancel()
        super().stop()

    def _next_idle(self) -> EncodedFrame:
        idle = self.settings.software
        loop = self._idle if self._idle is not None and self._idle.settings == idle else None
        if loop is None:
            loop = still_loop(*self._fallback_size, idle)
        if loop is not self._shown_loop:
            self._shown_loop, self._idle_index = loop, 0  # a new loop starts at its key frame
        if self._encoder is not None:
            # The turn is over: back to the shared loop at its next key frame.
            self._encoder.close()
            self._encoder = None
            self._idle_index = loop.keyframe_from(self._idle_index)
        frame = loop.frames[self._idle_index]
        self._idle_index = (self._idle_index + 1) % len(loop.frames)
        self.stats.idle_packets += 1
        return frame


@functools.cache
def opus_silence() -> bytes:
    """One 20 ms Opus packet of silence (48 kHz, as aiortc's encoder makes it), encoded once."""
    samples = np.zeros((1, AUDIO_FRAME_SAMPLES), dtype="<i2")
    frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
    frame.sample_rate = AUDIO_RATE
    frame.pts = 0
    frame.time_base = Fraction(1, AUDIO_RATE)
    payloads, _ = OpusEncoder().encode(frame)
    return payloads[0]


class PlayoutAudioTrack(MediaStreamTrack):
    """The tutor's voice as 20 ms mono Opus packets at 48 kHz; shared silence between turns.

    Silence stays in 20 ms packets: one 40 ms packet every other tick would halve a listening
    student's audio packets, but Chromium's audio jitter buffer then showed no less delay at a
    turn's start and it was not worth a second packet size. ``pre_encoded_silence`` is False
    when the peer negotiated another codec than Opus: then silence is sent as frames for
    aiortc to encode.
    """

    kind = "audio"

    def __init__(self, playout: MediaPlayout) -> None:
        super().__init__()
        self._playout = playout
        self._ticker = _Ticker(AUDIO_PTIME_S, playout)
        self.pre_encoded_silence = True
        self._opus: av.AudioCodecContext | None = None
        # When sound was first heard after silence (a turn's first syllable), for A/V checks.
        self.sound_onsets: deque[Onset] = deque(maxlen=ONSETS_KEPT)
        self._sounding = False

    async def recv(self) -> av.AudioFrame | av.Packet:
        """The next 20 ms, returned at its presentation time."""
        if self.readyState != "live" or self._playout.closed:
            raise MediaStreamError
        tick = await self._ticker.next()
        pcm = self._playout.next_audio(tick)
        pts = self._ticker.index * AUDIO_FRAME_SAMPLES
        self._note_onset(pcm, tick, pts)
        if self.pre_encoded_silence:
            data = opus_silence() if pcm is None else self._encode(pcm)
            packet = av.Packet(data)
            packet.pts = pts
            packet.time_base = Fraction(1, AUDIO_RATE)
            return packet
        samples = np.frombuffer(pcm or bytes(2 * AUDIO_FRAME_SAMPLES), dtype="<i2")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = pts
        frame.time_base = Fraction(1, AUDIO_RATE)
        return frame

    def _note_onset(self, pcm: bytes | None, tick: float, pts: int) -> None:
        if pcm is None:
            self._sounding = False  # the queue ran dry: silence until the next turn's sound
            return
        if self._sounding:
            return
        samples = np.frombuffer(pcm, dtype="<i2")
        loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > AUDIBLE_PEAK * 32768)
        if loud.size:
            first = int(loud[0])
            at = _wall_time(self._playout, tick) + first / AUDIO_RATE
            self.sound_onsets.append(Onset(at, pts + first))
            self._sounding = True

    def _encode(self, pcm: bytes) -> bytes:
        if self._opus is None:
            opus = av.CodecContext.create("libopus", "w")
            assert isinstance(opus, av.AudioCodecContext)
            opus.sample_rate = AUDIO_RATE
            opus.layout = "mono"
            opus.format = "s16"
            opus.bit_rate = 32000
            opus.options = {"application": "lowdelay"}  # CELT only: 2.5 ms look-ahead
            opus.open()
            self._opus = opus
        samples = np.frombuffer(pcm, dtype="<i2").reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        return b"".join(bytes(p) for p in self._opus.encode(frame))
