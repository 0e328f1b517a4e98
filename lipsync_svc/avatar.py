"""What an avatar is, in plain dataclasses: its description, its options and its loaded frames."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from lipsync_svc.drawn_face import DrawnFace
from lipsync_svc.frames import FaceBox
from svc_core.errors import InvalidArgument

DEFAULT_AVATAR_ID = "default"
AVATAR_ID_PATTERN = re.compile(r"[a-z0-9-]{1,64}")
VIDEO_FORMATS = ("mp4", "webm", "mov")


@dataclass(frozen=True)
class AvatarOptions:
    """How to prepare an avatar from a video (defaults as in lipsync.proto)."""

    blur_background: bool = False
    face_padding: float = 0.25
    max_size: int = 512
    idle_loop_seconds: float = 4.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.face_padding <= 1.0:
            raise InvalidArgument(f"face_padding {self.face_padding} is outside 0-1")
        if not 64 <= self.max_size <= 1920:
            raise InvalidArgument(f"max_size {self.max_size} is outside 64-1920")
        if not 0.2 <= self.idle_loop_seconds <= 20.0:
            raise InvalidArgument(
                f"idle_loop_seconds {self.idle_loop_seconds} is outside 0.2-20 seconds"
            )


@dataclass(frozen=True)
class AvatarSpec:
    """What CreateAvatar is asked to make."""

    avatar_id: str
    display_name: str
    engine: str
    options: AvatarOptions
    video_format: str = ""

    def __post_init__(self) -> None:
        if not AVATAR_ID_PATTERN.fullmatch(self.avatar_id):
            raise InvalidArgument(
                f"avatar id {self.avatar_id!r} is invalid: use 1-64 of a-z, 0-9 and '-'"
            )
        if self.video_format and self.video_format not in VIDEO_FORMATS:
            raise InvalidArgument(
                f"video format {self.video_format!r} is not supported: use "
                f"{', '.join(VIDEO_FORMATS)} or leave it empty to detect"
            )


@dataclass(frozen=True)
class AvatarInfo:
    """An avatar's description, as GetAvatar and ListAvatars report it."""

    avatar_id: str
    display_name: str
    engine: str
    width: int
    height: int
    idle_frame_count: int
    idle_fps: int
    builtin: bool
    create_time: datetime
    size_bytes: int = 0


@dataclass
class LoadedAvatar:
    """An avatar ready to animate: its idle loop in memory, with a face box per frame.

    Attributes:
        info: The description.
        frames: The idle loop, (N, H, W, 3) BGR uint8; never written to.
        boxes: The face box in each frame, (N, 4) float32 [x, y, w, h].
        face_padding: Margin engines add around the face box when they crop the face.
        drawn: The drawing behind the built-in avatar, so engines can draw its mouth instead of
            warping pixels; None for avatars made from video.
    """

    info: AvatarInfo
    frames: np.ndarray
    boxes: np.ndarray
    face_padding: float = 0.25
    drawn: DrawnFace | None = None
    _caches: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def frame_count(self) -> int:
        """Frames in the idle loop."""
        return len(self.frames)

    def box(self, index: int) -> FaceBox:
        """The face box of idle frame ``index``."""
        return FaceBox.from_array(self.boxes[index])

    def idle_index(self, frame_index: int, fps: int, start: int = 0) -> int:
        """The idle-loop frame shown at output frame ``frame_index`` of a stream at ``fps``.

        The loop advances in real time whatever the stream's frame rate, so the head moves at
        the same speed at 15 or 30 fps; ``start`` is the loop frame the stream begins on.
        """
        return (start + frame_index * self.info.idle_fps // fps) % self.frame_count

    def cache(self, name: str, build: Callable[[LoadedAvatar], np.ndarray]) -> np.ndarray:
        """An engine's per-avatar data: loaded from the avatar's files, or built once here."""
        with self._lock:
            if name not in self._caches:
                self._caches[name] = build(self)
            return self._caches[name]

    def preload_cache(self, name: str, value: np.ndarray) -> None:
        """Adds engine data read from the avatar's files."""
        with self._lock:
            self._caches[name] = value
