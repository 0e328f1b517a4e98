"""The engine interface of lipsync_svc and the plain dataclasses engines speak (never protobuf).

An engine turns frames of speech into pictures of an avatar speaking. The animation session cuts
the input audio into frames (exactly sample_rate / fps samples each), decides which idle-loop
frame lies under each one, and hands the engine batches of ``FrameRequest``; the engine returns
one BGR picture per request at the avatar's own size, or at the size the pictures will be sent
at where it can make that for less (``EngineStream.draw_at``). Engines keep per-stream state
(smoothing, audio history) in the ``EngineStream`` they open for each call.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from lipsync_svc.avatar import LoadedAvatar
from lipsync_svc.config import LipsyncSettings
from lipsync_svc.mouth import Viseme


@dataclass(frozen=True)
class EngineCapabilities:
    """What an engine can do, so callers need not probe it."""

    #: Reads viseme hints (otherwise only the audio is used).
    uses_visemes: bool
    #: Renders several frames in one pass, so batches are cheaper per frame than single frames.
    batched: bool
    #: Runs a neural network that a GPU speeds up.
    accelerated: bool


@dataclass(frozen=True)
class FrameRequest:
    """One output frame to render.

    Attributes:
        index: The frame's index in its stream, from 0.
        idle_index: The idle-loop frame under it (the head keeps moving while speaking).
        audio: The samples this frame covers, float32 in [-1, 1) at the stream's sample rate.
        visemes: Hints overlapping this frame, each with the fraction of the frame it covers.
    """

    index: int
    idle_index: int
    audio: np.ndarray
    visemes: tuple[tuple[Viseme, float], ...] = ()


class EngineStream(ABC):
    """One animation stream's view of an engine; used from one thread at a time."""

    @abstractmethod
    def render(self, requests: Sequence[FrameRequest]) -> list[np.ndarray]:
        """Renders frames in order (blocking; call it off the event loop).

        Returns:
            One BGR uint8 picture per request, at the avatar's own size or at the size given
            to ``draw_at``.
        """

    def draw_at(self, width: int, height: int) -> None:  # noqa: B027 - optional for engines
        """The pictures will be sent at ``width`` x ``height`` (the caller scales any other
        size to it): an engine that can draw them at that size for less may return them so.
        By default pictures stay at the avatar's own size."""


class LipsyncEngine(ABC):
    """A lip-sync backend: loads once at start, then opens a stream per animation call."""

    name: ClassVar[str]
    capabilities: ClassVar[EngineCapabilities]

    def __init__(self, settings: LipsyncSettings) -> None:
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: LipsyncSettings) -> LipsyncEngine:
        """The engine configured from the service's settings (nothing loaded yet)."""
        return cls(settings)

    async def start(self) -> None:  # noqa: B027 - engines without models need no loading
        """Loads models (blocking work off the event loop).

        Raises:
            StartupError: What to install or configure.
        """

    async def close(self) -> None:  # noqa: B027
        """Releases what ``start()`` took."""

    @classmethod
    def build_avatar_cache(cls, avatar: LoadedAvatar) -> dict[str, np.ndarray]:
        """Per-avatar data this engine wants stored with a new avatar (blocking, no model needed).

        Returns:
            Arrays by name; they are saved with the avatar and handed back through
            ``LoadedAvatar.cache`` when it is loaded.
        """
        return {}

    @abstractmethod
    def open_stream(self, avatar: LoadedAvatar, sample_rate: int, fps: int) -> EngineStream:
        """A stream animating ``avatar`` to audio at ``sample_rate``, at ``fps`` frames/s."""
