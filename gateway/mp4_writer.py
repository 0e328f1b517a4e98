"""Writes a tutor's answer (video frames and PCM audio) as an MP4 file: H.264 + AAC, with PyAV."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np
from vtutor.common.v1 import media_pb2


class Mp4Writer:
    """An MP4 being written; use as a context manager.

    Args:
        path: Where to write.
        sample_rate_hz: Rate of the PCM s16le mono audio given to ``add_audio``.
        fps: Frame rate of the frames given to ``add_frame``; None for an audio-only file.
        width: Frame width (even).
        height: Frame height (even).
    """

    def __init__(
        self,
        path: Path,
        *,
        sample_rate_hz: int,
        fps: int | None = None,
        width: int = 0,
        height: int = 0,
    ) -> None:
        self._container = av.open(str(path), mode="w", format="mp4")
        self._video = None
        if fps is not None:
            video = self._container.add_stream("libx264", rate=fps)
            video.width = width
            video.height = height
            video.pix_fmt = "yuv420p"
            video.options = {"preset": "veryfast"}
            self._video = video
        self._audio = self._container.add_stream("aac", rate=sample_rate_hz)
        self._audio.layout = "mono"
        self._sample_rate = sample_rate_hz
        self._audio_samples = 0
        self._frame_index = 0
        self._jpeg = av.CodecContext.create("mjpeg", "r")

    def add_frame(self, frame: media_pb2.VideoFrame) -> None:
        """Adds a video frame (I420, JPEG or RGB24)."""
        if self._video is None:
            return
        picture = self._picture(frame)
        picture.pts = self._frame_index
        picture.time_base = Fraction(1, int(self._video.average_rate or 25))
        self._frame_index += 1
        for packet in self._video.encode(picture.reformat(format="yuv420p")):
            self._container.mux(packet)

    def add_audio(self, pcm: bytes) -> None:
        """Adds PCM s16le mono audio, continuing where the last call ended."""
        samples = np.frombuffer(pcm, dtype="<i2").reshape(1, -1)
        if samples.size == 0:
            return
        chunk = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        chunk.sample_rate = self._sample_rate
        chunk.pts = self._audio_samples
        chunk.time_base = Fraction(1, self._sample_rate)
        self._audio_samples += samples.shape[1]
        for packet in self._audio.encode(chunk):
            self._container.mux(packet)

    def close(self) -> None:
        """Flushes the encoders and finishes the file."""
        if self._video is not None:
            for packet in self._video.encode(None):
                self._container.mux(packet)
        for packet in self._audio.encode(None):
            self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _picture(self, frame: media_pb2.VideoFrame) -> av.VideoFrame:
        width, height = frame.width, frame.height
        if frame.pixel_format == media_pb2.PIXEL_FORMAT_JPEG:
            decoded = self._jpeg.decode(av.Packet(frame.data))
            if not decoded:
                raise ValueError("a JPEG frame did not decode")
            return decoded[0]
        if frame.pixel_format == media_pb2.PIXEL_FORMAT_RGB24:
            rgb = np.frombuffer(frame.data, np.uint8).reshape(height, width, 3)
            return av.VideoFrame.from_ndarray(rgb, format="rgb24")
        # I420: Y plane, then U and V at half size, stacked as PyAV's yuv420p ndarray expects.
        planes = np.frombuffer(frame.data, np.uint8).reshape(height * 3 // 2, width)
        return av.VideoFrame.from_ndarray(planes, format="yuv420p")
