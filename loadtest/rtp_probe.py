"""A light WebRTC student: counts frames and reads timestamps from RTP, decoding nothing.

A student that decodes every frame costs about as much CPU as the edge spends sending it, so
one machine could not host many (8 such students starved the stack). This probe joins like
``StudentProbe`` but takes each incoming RTP packet off aiortc's receiver before the jitter
buffer and decoder, and keeps only what the harness needs:

- video: one record per frame (RTP timestamp, first packet's arrival, key frame or not, read
  from the H.264 NAL type or the VP8 payload header);
- audio: one record per packet (RTP timestamp, arrival, payload size and level when sent:
  the edge sends one shared 3-byte Opus packet of silence between turns, so a larger packet
  is the answer's sound);
- RTCP sender reports, which map each stream's RTP clock to the sender's wall clock: the
  mapping a browser uses to play audio and video in step. ``presentation_s`` gives a
  packet's time on that clock, so the A/V onset offset is measured as a browser would see it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiortc import MediaStreamTrack
from aiortc.codecs.vpx import VpxPayloadDescriptor
from aiortc.rtp import RtcpSrPacket, RtpPacket

from loadtest.student_probe import StudentProbe

VIDEO_CLOCK = 90000
AUDIO_CLOCK = 48000
SILENT_LEVEL = 127  # -127 dBov: digital silence
REPORTS_USED = 9  # sender reports fitted per mapping (aiortc sends one every 0.5-1.5 s)
SILENT_OPUS_BYTES = 8  # Opus packets of digital silence are 3 bytes; sound makes tens


@dataclass
class RtpFrame:
    """A video frame as its first RTP packet showed it."""

    arrival: float
    rtp_ts: int
    keyframe: bool


@dataclass
class RtpAudio:
    """An audio packet: its level in -dBov (None: no level sent, the edge's idle silence)."""

    arrival: float
    rtp_ts: int
    level: int | None
    size: int = 0

    @property
    def sounding(self) -> bool:
        """The packet carries the tutor's audio (not the idle silence, not digital zero)."""
        if self.level is not None:
            return self.level < SILENT_LEVEL
        return self.size > SILENT_OPUS_BYTES


@dataclass
class SenderClock:
    """RTCP sender reports of one stream: (RTP timestamp, sender wall clock in s), in order."""

    clock_rate: int
    reports: list[tuple[int, float]] = field(default_factory=list)

    def presentation_s(self, rtp_ts: int) -> float | None:
        """``rtp_ts`` on the sender's wall clock; None before the first report.

        Each report predicts it; the median of the (up to) ``REPORTS_USED`` reports nearest in
        RTP time is taken, as browsers fit their RTP -> NTP mapping over many reports: one
        report stamped by a packet sent late (a starved sender) does not move it.
        """
        if not self.reports:
            return None

        def delta(report: tuple[int, float]) -> int:
            return (rtp_ts - report[0] + 2**31) % 2**32 - 2**31  # RTP timestamps wrap at 2^32

        nearest = sorted(self.reports, key=lambda report: abs(delta(report)))[:REPORTS_USED]
        return statistics.median(r[1] + delta(r) / self.clock_rate for r in nearest)


def _h264_keyframe(payload: bytes) -> bool:
    nal = payload[0] & 0x1F
    if nal == 24:  # STAP-A: the first aggregated NAL unit
        return len(payload) > 3 and payload[3] & 0x1F in (5, 7)
    if nal == 28:  # FU-A: the fragmented unit's type, on its first fragment
        return len(payload) > 1 and bool(payload[1] & 0x80) and payload[1] & 0x1F == 5
    return nal in (5, 7)


def _vp8_keyframe(payload: bytes) -> bool:
    descriptor, data = VpxPayloadDescriptor.parse(payload)
    return bool(descriptor.partition_start) and bool(data) and not data[0] & 0x01


@dataclass
class RtpReceived:
    """What a light student got."""

    frames: list[RtpFrame] = field(default_factory=list)
    audio: list[RtpAudio] = field(default_factory=list)
    video_clock: SenderClock = field(default_factory=lambda: SenderClock(VIDEO_CLOCK))
    audio_clock: SenderClock = field(default_factory=lambda: SenderClock(AUDIO_CLOCK))
    video_codec: str = ""
    timestamp_jumps: int = 0  # consecutive frames more than 1.5 frame intervals apart in RTP
    fps: int = 25


class RtpStudentProbe(StudentProbe):
    """A ``StudentProbe`` whose incoming media is read at the RTP level, never decoded."""

    def __init__(self, edge_url: str, session_id: str, token: str, *, fps: int = 25) -> None:
        super().__init__(edge_url, session_id, token)
        self.rtp = RtpReceived(fps=fps)

    async def connect(
        self,
        speech: bytes = b"",
        *,
        speech_rate: int = 16000,
        video: dict[str, int] | None = None,
        video_codecs: list[str] | None = None,
    ) -> int:
        status = await super().connect(
            speech, speech_rate=speech_rate, video=video, video_codecs=video_codecs
        )
        if status == 200 and self.pc is not None:
            for transceiver in self.pc.getTransceivers():
                self._tap(transceiver.receiver, transceiver.kind)
            self.rtp.video_codec = self.codecs.get("video", "")
        return status

    def _on_track(self, track: MediaStreamTrack) -> None:
        pass  # nothing is decoded: the receivers are tapped instead

    def _tap(self, receiver: Any, kind: str) -> None:
        handle_rtcp: Callable[[Any], Awaitable[None]] = receiver._handle_rtcp_packet

        async def on_rtp(packet: RtpPacket, arrival_time_ms: int = 0) -> None:
            self._on_rtp(kind, packet, time.monotonic())

        async def on_rtcp(packet: Any) -> None:
            if isinstance(packet, RtcpSrPacket):
                info = packet.sender_info
                clock = self.rtp.video_clock if kind == "video" else self.rtp.audio_clock
                ntp_s = (info.ntp_timestamp >> 32) + (info.ntp_timestamp & 0xFFFFFFFF) / 2**32
                clock.reports.append((info.rtp_timestamp, ntp_s))
            await handle_rtcp(packet)

        # Instance attributes: the DTLS transport looks the handlers up on each packet.
        receiver._handle_rtp_packet = on_rtp
        receiver._handle_rtcp_packet = on_rtcp

    def _on_rtp(self, kind: str, packet: RtpPacket, now: float) -> None:
        if not packet.payload:
            return
        rtp = self.rtp
        if kind == "audio":
            level = packet.extensions.audio_level
            rtp.audio.append(
                RtpAudio(
                    now,
                    packet.timestamp,
                    None if level is None else level[1],
                    size=len(packet.payload),
                )
            )
            return
        if rtp.frames and rtp.frames[-1].rtp_ts == packet.timestamp:
            return  # a later packet of the same frame
        try:
            key = (
                _vp8_keyframe(packet.payload)
                if rtp.video_codec == "vp8"
                else _h264_keyframe(packet.payload)
            )
        except (ValueError, IndexError):
            key = False
        if rtp.frames:
            step = (packet.timestamp - rtp.frames[-1].rtp_ts) % 2**32
            if step > 1.5 * VIDEO_CLOCK / rtp.fps:
                rtp.timestamp_jumps += 1
        rtp.frames.append(RtpFrame(now, packet.timestamp, key))
