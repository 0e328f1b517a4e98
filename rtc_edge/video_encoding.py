"""Video encoders of the edge (H.264 through libx264 or NVENC, VP8 through libvpx), all in PyAV.

The edge encodes video itself and hands aiortc ready packets (a track's ``recv()`` may return an
``av.Packet``; the sender then only packetizes it), so the same encoded idle loop can go to
every peer and a peer's own encoder runs only while a turn plays. Every encoder is set for low
latency: one frame in, one packet out, no B-frames, and a key frame on request (an IDR with its
SPS/PPS for H.264), so a stream can switch between encoders at a key frame.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Literal

import av
import numpy as np

logger = logging.getLogger(__name__)

VideoCodecName = Literal["h264", "vp8"]
VIDEO_CODECS: tuple[VideoCodecName, ...] = ("h264", "vp8")
# The RTP clock of every video codec (RFC 6184, RFC 7741).
VIDEO_CLOCK_RATE = 90000


class EncoderUnavailable(RuntimeError):
    """The encoder cannot be opened here (NVENC without a GPU, a codec missing from PyAV)."""


class EncoderClosed(RuntimeError):
    """The encoder was closed (its track stopped) before a picture reached it."""


@dataclass(frozen=True)
class EncoderSettings:
    """How one stream is encoded.

    Attributes:
        codec: The negotiated codec.
        fps: Frames per second (sets the rate control's time base).
        bitrate_kbps: Target bit rate.
        keyframe_interval: A key frame at least this often (frames): aiortc does not pass a
            browser's key-frame requests to pre-encoded streams, so periodic key frames are
            what recovers a picture after loss.
        hardware: H.264 on NVENC (``h264_nvenc``) instead of libx264.
    """

    codec: VideoCodecName = "h264"
    fps: int = 25
    bitrate_kbps: int = 800
    keyframe_interval: int = 50
    hardware: bool = False

    @property
    def software(self) -> EncoderSettings:
        """The same stream encoded in software (what idle loops use: encoded once, at start)."""
        return replace(self, hardware=False)

    @property
    def encoder_name(self) -> str:
        """PyAV's name of the encoder these settings use."""
        if self.codec == "vp8":
            return "libvpx"
        return "h264_nvenc" if self.hardware else "libx264"


@dataclass(frozen=True)
class I420Image:
    """A planar YUV 4:2:0 picture: ``data`` has shape (height * 3 // 2, width)."""

    width: int
    height: int
    data: np.ndarray


@dataclass(frozen=True)
class EncodedFrame:
    """One encoded picture: an H.264 access unit (Annex B) or a VP8 frame."""

    data: bytes
    keyframe: bool


def _options(settings: EncoderSettings) -> dict[str, str]:
    interval = str(settings.keyframe_interval)
    if settings.encoder_name == "libx264":
        return {
            "preset": "ultrafast",
            "tune": "zerolatency",
            # Constrained baseline (no CABAC, no B-frames): what every browser decodes, and
            # what the edge offers first (profile-level-id 42e01f).
            "profile": "baseline",
            "level": "3.1",
            # SPS/PPS before every IDR, forced key frames as IDRs: each key frame starts a
            # stream a decoder can join, whichever encoder produced the frames before it.
            "x264-params": (
                f"repeat-headers=1:forced-idr=1:keyint={interval}:min-keyint={interval}"
                ":scenecut=0:sliced-threads=0"
            ),
        }
    if settings.encoder_name == "h264_nvenc":
        return {
            "preset": "p1",
            "tune": "ull",
            "zerolatency": "1",
            "delay": "0",
            "profile": "baseline",
            "forced-idr": "1",
            "rc": "cbr",
        }
    return {
        "deadline": "realtime",
        "cpu-used": "8",
        "lag-in-frames": "0",
        "auto-alt-ref": "0",
        "error-resilient": "1",
    }


class VideoEncoder:
    """An encoder for pictures of one size; ``encode`` is blocking (run it off the loop).

    Raises:
        EncoderUnavailable: The encoder cannot be opened (see its message).
    """

    def __init__(self, settings: EncoderSettings, width: int, height: int) -> None:
        if width % 2 or height % 2 or width < 16 or height < 16:
            raise ValueError(f"frame size {width}x{height}: sides must be even and >= 16")
        self.settings = settings
        self.width = width
        self.height = height
        self._index = 0
        try:
            context = av.CodecContext.create(settings.encoder_name, "w")
            assert isinstance(context, av.VideoCodecContext)
            context.width = width
            context.height = height
            context.pix_fmt = "yuv420p"
            context.framerate = Fraction(settings.fps, 1)
            context.time_base = Fraction(1, settings.fps)
            context.bit_rate = settings.bitrate_kbps * 1000
            context.gop_size = settings.keyframe_interval
            context.max_b_frames = 0
            if not settings.hardware:
                # One thread per encoder: many peers share few cores, and frame threads
                # would add a frame of delay each.
                context.thread_count = 1
            context.options = _options(settings)
            context.open()
        except (av.FFmpegError, ValueError) as error:
            raise EncoderUnavailable(
                f"{settings.encoder_name} could not be opened for {width}x{height}: {error}"
                + (" (NVENC needs an NVIDIA GPU and driver)" if settings.hardware else "")
            ) from error
        self._context: av.VideoCodecContext | None = context

    def encode(self, image: I420Image, *, keyframe: bool = False) -> EncodedFrame:
        """Encodes one picture (same size as the encoder); ``keyframe`` forces a key frame."""
        if (image.width, image.height) != (self.width, self.height):
            raise ValueError(
                f"picture is {image.width}x{image.height}, encoder {self.width}x{self.height}"
            )
        # Read once: the track may close the encoder while this runs on a worker thread; the
        # context it read stays valid until it returns.
        context = self._context
        if context is None:
            raise EncoderClosed(f"the {self.settings.encoder_name} encoder was closed")
        frame = av.VideoFrame.from_ndarray(image.data, format="yuv420p")
        frame.pts = self._index
        frame.time_base = Fraction(1, self.settings.fps)
        frame.pict_type = (
            av.video.frame.PictureType.I if keyframe else av.video.frame.PictureType.NONE
        )
        self._index += 1
        packets = context.encode(frame)
        data = b"".join(bytes(p) for p in packets)
        return EncodedFrame(data, keyframe=any(p.is_keyframe for p in packets))

    def close(self) -> None:
        """Releases the encoder (flushes nothing: a low-latency encoder holds no frames)."""
        self._context = None


def encoded_packet(frame: EncodedFrame, pts_90k: int) -> av.Packet:
    """``frame`` as the packet an aiortc track returns, stamped on the 90 kHz RTP clock."""
    packet = av.Packet(frame.data)
    packet.pts = pts_90k
    packet.dts = pts_90k
    packet.time_base = Fraction(1, VIDEO_CLOCK_RATE)
    packet.is_keyframe = frame.keyframe
    return packet
