"""Outgoing WebRTC tracks whose ``recv()`` paces media in real time from a MediaPlayout.

Both tracks hand aiortc encoded packets where they can (the sender then only packetizes):
- video: while the tutor listens, the idle loop's shared packets (encoded once per avatar,
  size and codec, see ``idle_loop``); while a turn plays, the peer's own encoder, opened at
  the turn's first frame with a key frame and closed when the idle loop resumes, at one of
  its key frames. Every switch therefore lands on a key frame and decodes cleanly.
- audio: between turns one Opus packet of silence, encoded once per process, and after a
  short hangover Opus DTX (a 1-byte packet every 400 ms, as a browser's Opus sends silence);
  a turn's audio through the peer's own Opus encoder, stamped on the same timeline (aiortc's
  encoder would restamp frames from its own counter, which would jump the audio's RTP clock
  at every turn and break the browser's lip sync).

Every peer's media clock starts on a whole second of the monotonic clock (``shared_epoch``),
so the ticks of all peers fall on the same instants and the event loop wakes once per tick
for all of them, not once per peer (10 peers: ~50 wake-ups a second instead of ~750).
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

from rtc_edge.idle_loop import EncodedLoop, still_frame, still_loop
from rtc_edge.playout import AUDIO_FRAME_SAMPLES, AUDIO_PTIME_S, AUDIO_RATE, MediaPlayout
from rtc_edge.video_encoding import (
    VIDEO_CLOCK_RATE,
    EncodedFrame,
    EncoderClosed,
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


# Opus DTX (RFC 7587 3.1.3, libopus' own rule): after this many 20 ms packets of silence the
# idle audio is one TOC-only packet every DTX_INTERVAL_TICKS; receivers (WebRTC's NetEq) take
# a packet of at most 2 bytes as DTX and generate comfort noise, not loss concealment.
DTX_HANGOVER_TICKS = 10
DTX_INTERVAL_TICKS = 20


def shared_epoch(now: float) -> float:
    """The media clock's epoch for a peer whose first tick is now: the whole second before.

    Every integer frame rate's period and the 20 ms audio period divide a second, so peers
    whose clocks start on whole seconds tick together (see the module docstring).
    """
    return float(math.floor(now))


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
        if self.playout.epoch is None:
            self.playout.epoch = shared_epoch(clock())
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
        # The peer's own encoder for turns: opened ahead (when the idle loop's size is known)
        # and kept between turns, so a turn's start pays neither an encoder's opening nor its
        # first, slow encode (on a busy edge a thread hop each: 0.1-0.6 s of first frames).
        self._encoder: VideoEncoder | None = None
        self._opening: asyncio.Task[VideoEncoder] | None = None
        self._in_turn = False  # the turn encoder's frames are on the wire
        self.stats = VideoTrackStats()
        # The last turns' first frames (for A/V sync checks: the audio track keeps their sound).
        self.turn_onsets: deque[Onset] = deque(maxlen=ONSETS_KEPT)
        self._showing_turn = False

    @property
    def idle_position(self) -> int | None:
        """The frame of the avatar's idle loop shown now; None while a turn plays or before
        the loop is known (the still frame)."""
        loop = self._shown_loop
        if self._in_turn or loop is None or loop is not self._idle:
            return None
        return (self._idle_index - 1) % len(loop.frames)  # _idle_index is the next one

    def use_codec(self, codec: VideoCodecName) -> None:
        """The codec the peer negotiated (before media flows)."""
        self.settings = replace(self.settings, codec=codec)

    def show_idle_loop(self, loop: EncodedLoop) -> None:
        """Uses ``loop`` (encoded with this track's settings, in software) while no turn plays,
        and opens the turn encoder for its size ahead of the first turn."""
        self._idle = loop
        self._open_ahead(loop.width, loop.height)

    def _open_ahead(self, width: int, height: int) -> None:
        """Opens the turn encoder off the loop unless one for this size is open or opening."""
        if self._opening is not None or self._fits(self._encoder, width, height):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a synchronous caller): the first turn frame opens it
        self._opening = loop.create_task(asyncio.to_thread(self._open_encoder, width, height))

    def _fits(self, encoder: VideoEncoder | None, width: int, height: int) -> bool:
        return (
            encoder is not None
            and (encoder.width, encoder.height) == (width, height)
            and encoder.settings.codec == self.settings.codec
        )

    async def recv(self) -> av.Packet:
        """The next frame's packet, returned at its presentation time."""
        if self.readyState != "live" or self._playout.closed:
            raise MediaStreamError
        tick = await self._ticker.next(lead_s=ENCODE_LEAD_S)
        image = self._playout.next_video(tick)
        if image is None and not self._in_turn:
            upcoming = self._playout.upcoming_image()
            if upcoming is not None:
                # A turn is queued: its encoder must be ready by its first frame's tick.
                self._open_ahead(upcoming.width, upcoming.height)
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
        if self._opening is not None:
            opened, self._opening = await self._opening, None
            if self._encoder is not None:
                self._encoder.close()
            self._encoder = opened
        encoder = self._encoder
        if not self._fits(encoder, image.width, image.height):
            if encoder is not None:
                encoder.close()
            encoder = self._encoder = await asyncio.to_thread(
                self._open_encoder, image.width, image.height
            )
        assert encoder is not None
        # The switch from the idle loop's stream starts with a key frame of this encoder.
        keyframe = not self._in_turn
        self._in_turn = True
        self.stats.turn_frames_encoded += 1
        try:
            return await asyncio.to_thread(encoder.encode, image, keyframe=keyframe)
        except EncoderClosed as closed:
            # The track stopped during the encode: the sender ends as for any stopped track.
            raise MediaStreamError from closed

    def _open_encoder(self, width: int, height: int) -> VideoEncoder:
        """Opens an encoder and encodes one blank picture with it (blocking): a fresh
        encoder's first frame takes several times as long as the ones after it."""
        try:
            encoder = VideoEncoder(self.settings, width, height)
        except EncoderUnavailable as error:
            if not self.settings.hardware:
                raise
            logger.error("%s; encoding in software instead", error)
            self.settings = replace(self.settings, hardware=False)
            encoder = VideoEncoder(self.settings, width, height)
        encoder.encode(still_frame(width, height))
        self.stats.turn_encoders_opened += 1
        return encoder

    def stop(self) -> None:
        """Ends the track (and an encoder still being opened)."""
        if self._opening is not None:
            self._opening.cancel()
        if self._encoder is not None:
            self._encoder.close()
            self._encoder = None
        super().stop()

    def _next_idle(self) -> EncodedFrame:
        idle = self.settings.software
        loop = self._idle if self._idle is not None and self._idle.settings == idle else None
        if loop is None:
            loop = still_loop(*self._fallback_size, idle)
        if loop is not self._shown_loop:
            self._shown_loop, self._idle_index = loop, 0  # a new loop starts at its key frame
        if self._in_turn:
            # The turn is over: back to the shared loop at its next key frame (the turn
            # encoder stays open for the next turn, which starts with a key frame of its own).
            self._in_turn = False
            self._idle_index = loop.keyframe_from(self._idle_index)
        frame = loop.frames[self._idle_index]
        self._idle_index = (self._idle_index + 1) % len(loop.frames)
        self.stats.idle_packets += 1
        return frame


@functools.cache
def opus_dtx() -> bytes:
    """An Opus DTX packet: the silence packet's TOC byte alone (a frame of no data)."""
    return opus_silence()[:1]


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

    Between turns, after ``DTX_HANGOVER_TICKS`` packets of silence, only a DTX packet every
    ``DTX_INTERVAL_TICKS`` is sent (``dtx``): the ticks in between are kept (a turn's sound
    still starts on its tick) but send nothing. ``pre_encoded_silence`` is False when the
    peer negotiated another codec than Opus: then silence is sent as frames, every 20 ms, for
    aiortc to encode.

    Args:
        playout: The peer's media queues.
        dtx: Opus DTX between turns.
    """

    kind = "audio"

    def __init__(self, playout: MediaPlayout, *, dtx: bool = True) -> None:
        super().__init__()
        self._playout = playout
        self._ticker = _Ticker(AUDIO_PTIME_S, playout)
        self.pre_encoded_silence = True
        self.dtx = dtx
        self._quiet_ticks = 0  # idle ticks in a row (silence since the last sound)
        self.dtx_packets = 0
        self._opus: av.AudioCodecContext | None = None
        # When sound was first heard after silence (a turn's first syllable), for A/V checks.
        self.sound_onsets: deque[Onset] = deque(maxlen=ONSETS_KEPT)
        self._sounding = False

    async def recv(self) -> av.AudioFrame | av.Packet:
        """The next packet (20 ms; a DTX packet stands for the silence until the next one),
        returned at its presentation time."""
        idle: bytes | None = None
        while True:
            if self.readyState != "live" or self._playout.closed:
                raise MediaStreamError
            tick = await self._ticker.next()
            pcm = self._playout.next_audio(tick)
            pts = self._ticker.index * AUDIO_FRAME_SAMPLES
            self._note_onset(pcm, tick, pts)
            if pcm is not None or not self.pre_encoded_silence:
                self._quiet_ticks = 0
                break
            idle = self._idle_payload()
            if idle is not None:
                break
        if self.pre_encoded_silence:
            packet = av.Packet(self._encode(pcm) if pcm is not None else idle)
            packet.pts = pts
            packet.time_base = Fraction(1, AUDIO_RATE)
            return packet
        samples = np.frombuffer(pcm or bytes(2 * AUDIO_FRAME_SAMPLES), dtype="<i2")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = pts
        frame.time_base = Fraction(1, AUDIO_RATE)
        return frame

    def _idle_payload(self) -> bytes | None:
        """What an idle tick sends: silence, a DTX packet, or nothing (None)."""
        self._quiet_ticks += 1
        if not self.dtx or self._quiet_ticks <= DTX_HANGOVER_TICKS:
            return opus_silence()
        if (self._quiet_ticks - DTX_HANGOVER_TICKS - 1) % DTX_INTERVAL_TICKS:
            return None
        self.dtx_packets += 1
        return opus_dtx()

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
