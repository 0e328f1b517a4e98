"""The embedded engine: mouth shapes from viseme hints or audio features, no model needed.

On the built-in drawn avatar the mouth is drawn, at the size the frames are sent at when that
is the avatar's size halved once or more (only the mouth's region is drawn and halved). On
avatars made from a video of the person speaking, their own mouth images matching each shape
are blended in (mouth_bank); on avatars made from silent or still videos the real mouth is
opened by warping the lower face (mouth_warp). In silence the idle frame is shown untouched.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lipsync_svc.avatar import LoadedAvatar
from lipsync_svc.engines.base import EngineCapabilities, EngineStream, FrameRequest, LipsyncEngine
from lipsync_svc.frames import halved, halvings
from lipsync_svc.mouth import MouthDriver
from lipsync_svc.mouth_bank import (
    OPENINGS_CACHE,
    PATCHES_CACHE,
    SOURCES_CACHE,
    MouthBank,
    render_from_bank,
)
from lipsync_svc.mouth_locator import NoMouthFound
from lipsync_svc.mouth_warp import mouth_geometry, warp_mouth
from svc_core.errors import FailedPrecondition, InvalidArgument

# v2: the lips found by colour (mouth_locator); older avatars rebuild it when first loaded.
MOUTH_CACHE = "procedural_mouth_v2"


def _halved_loop(frames: np.ndarray, times: int) -> np.ndarray:
    small = np.stack([halved(frame, times) for frame in frames])
    small.flags.writeable = False
    return small


def _no_bank(avatar: LoadedAvatar) -> np.ndarray:
    return np.zeros(0, np.float32)


class ProceduralStream(EngineStream):
    """One stream: a smoothed mouth shape per frame, drawn or warped onto the idle frame."""

    def __init__(self, avatar: LoadedAvatar, sample_rate: int) -> None:
        self._avatar = avatar
        self._driver = MouthDriver(sample_rate)
        self._halvings = 0
        self._small_idle: np.ndarray | None = None  # the idle loop halved _halvings times
        try:
            self._geometry = (
                None if avatar.drawn is not None else avatar.cache(MOUTH_CACHE, mouth_geometry)
            )
        except NoMouthFound as exc:
            # An avatar made before lips were looked for (its geometry is built on first use).
            raise FailedPrecondition(
                f"avatar {avatar.info.avatar_id!r} cannot be animated: {exc}; create it again "
                "from a video where the mouth is visible"
            ) from exc
        # The person's own mouths, kept when the avatar's video showed them speaking.
        openings = avatar.cache(OPENINGS_CACHE, _no_bank)
        self._bank = (
            MouthBank(
                avatar.cache(PATCHES_CACHE, _no_bank),
                openings,
                avatar.cache(SOURCES_CACHE, _no_bank),
            )
            if len(openings) >= 2
            else None
        )

    def draw_at(self, width: int, height: int) -> None:
        info = self._avatar.info
        times = halvings(info.width, info.height, width, height)
        if times and self._avatar.drawn is not None:
            self._halvings = times
            self._small_idle = self._avatar.cache(
                f"idle_halved_{times}", lambda avatar: _halved_loop(avatar.frames, times)
            )

    def render(self, requests: Sequence[FrameRequest]) -> list[np.ndarray]:
        frames = []
        small = self._small_idle
        for request in requests:
            shape = self._driver.next(request.audio, request.visemes)
            idle = self._avatar.frames[request.idle_index]
            if shape.closed:
                frames.append(idle if small is None else small[request.idle_index])
            elif self._avatar.drawn is not None:
                frames.append(
                    self._avatar.drawn.render_mouth(
                        idle,
                        request.idle_index,
                        shape,
                        halvings=self._halvings,
                        small_idle=None if small is None else small[request.idle_index],
                    )
                )
            else:
                assert self._geometry is not None
                geometry = self._geometry[request.idle_index]
                if self._bank is not None:
                    face_width = float(self._avatar.boxes[request.idle_index][2])
                    frames.append(render_from_bank(idle, geometry, face_width, shape, self._bank))
                else:
                    frames.append(warp_mouth(idle, geometry, shape))
        return frames


class ProceduralEngine(LipsyncEngine):
    """Mouth from visemes or loudness and spectral balance; runs anywhere, downloads nothing."""

    name = "procedural"
    capabilities = EngineCapabilities(uses_visemes=True, batched=False, accelerated=False)

    @classmethod
    def build_avatar_cache(cls, avatar: LoadedAvatar) -> dict[str, np.ndarray]:
        try:
            return {MOUTH_CACHE: mouth_geometry(avatar)}
        except NoMouthFound as exc:
            raise InvalidArgument(str(exc)) from exc

    def open_stream(self, avatar: LoadedAvatar, sample_rate: int, fps: int) -> EngineStream:
        return ProceduralStream(avatar, sample_rate)
