"""Reading an uploaded video with PyAV: container checks, and frames resampled to a frame rate."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import av
import numpy as np

from svc_core.errors import InvalidArgument

T = TypeVar("T")

# FFmpeg demuxer names of the accepted containers, and the format names each stands for.
DEMUXERS = {
    "mov,mp4,m4a,3gp,3g2,mj2": ("mp4", "mov"),
    "matroska,webm": ("webm",),
}


class BuildCancelled(Exception):
    """Avatar creation was cancelled by its caller."""


def check_cancelled(cancelled: threading.Event) -> None:
    """Raises BuildCancelled once ``cancelled`` is set."""
    if cancelled.is_set():
        raise BuildCancelled()


def _open(path: Path, declared_format: str) -> av.container.InputContainer:
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, ValueError) as exc:
        raise InvalidArgument(
            "cannot read the upload as a video: send an mp4, webm or mov file"
        ) from exc
    formats = DEMUXERS.get(container.format.name)
    if formats is None:
        container.close()
        raise InvalidArgument(
            f"unsupported file type ({container.format.long_name}): send an mp4, webm or mov video"
        )
    if declared_format and declared_format not in formats:
        container.close()
        raise InvalidArgument(
            f"the upload is a {'/'.join(formats)} file, not {declared_format} as the spec says"
        )
    if not container.streams.video:
        container.close()
        raise InvalidArgument("the file has no video stream")
    return container


def speech_share(path: Path, *, window_s: float = 0.04, level_dbfs: float = -40.0) -> float:
    """Share of the video's audio track, in windows of ``window_s``, as loud as speech; 0.0 when
    the file has no audio track or it cannot be decoded."""
    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, ValueError):
        return 0.0
    try:
        if not container.streams.audio:
            return 0.0
        stream = container.streams.audio[0]
        loud = total = 0
        pending = np.zeros(0, np.float32)
        for frame in container.decode(stream):
            samples = frame.to_ndarray().astype(np.float32)
            if samples.dtype.kind != "f" or np.abs(samples).max(initial=0) > 1.5:
                samples = samples / 32768.0
            mono = samples.reshape(len(frame.layout.channels), -1).mean(axis=0)
            pending = np.concatenate([pending, mono])
            size = max(1, int(window_s * frame.sample_rate))
            while len(pending) >= size:
                window, pending = pending[:size], pending[size:]
                rms = float(np.sqrt(np.mean(np.square(window)))) + 1e-9
                loud += 20 * np.log10(rms) > level_dbfs
                total += 1
        return loud / total if total else 0.0
    except av.error.FFmpegError:
        return 0.0
    finally:
        container.close()


def video_frames(
    path: Path,
    *,
    fps: int,
    max_frames: int,
    convert: Callable[[av.VideoFrame], T],
    cancelled: threading.Event,
    declared_format: str = "",
) -> Iterator[T]:
    """The video's frames at ``fps`` (nearest source frame to each tick), converted, in order.

    Stops after ``max_frames`` frames or at the end of the video; a video with a single frame
    gives that frame once.

    Raises:
        InvalidArgument: Not a supported video, or it cannot be decoded.
        BuildCancelled: ``cancelled`` was set.
    """
    container = _open(path, declared_format)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = float(stream.average_rate or fps)
        emitted = 0
        start: float | None = None
        previous: tuple[float, av.VideoFrame] | None = None
        for count, frame in enumerate(container.decode(stream)):
            check_cancelled(cancelled)
            time = frame.time if frame.time is not None else count / rate
            if start is None:
                start = time
            time -= start
            # Emit every tick up to this frame's time, each from whichever of the previous and
            # this frame is nearer to it.
            while emitted < max_frames and emitted / fps <= time:
                tick = emitted / fps
                nearest = frame
                if previous is not None and tick - previous[0] < time - tick:
                    nearest = previous[1]
                yield convert(nearest)
                emitted += 1
            if emitted >= max_frames:
                return
            previous = (time, frame)
        if emitted == 0 and previous is not None:
            yield convert(previous[1])
    except av.error.FFmpegError as exc:
        raise InvalidArgument(f"the video cannot be decoded: {exc}") from exc
    finally:
        container.close()
