"""Finding the lips of a real face: lip colour in the lower face, symmetric about the face's axis.

Lips are redder than the skin around them (CIELAB a*), whatever the skin tone or the light, and
a mouth is symmetric about the face's vertical axis. So within the lower part of the Haar face
box: a* minus the skin's median a*, in units of the skin's own spread (the "lip map"), kept
only where its mirror image about the axis agrees, and weighted by where a frontal face's mouth
usually lies. Down the middle of the face, the lips are the strongest band of that map; the
band runs on across a gap that is teeth or a dark open mouth to the other lip, but not across
plain skin (so never up to the nostrils, whose shadows misled the old darkest-row search).
Across, the lips reach as far as their colour does. They part (the lip line) in the middle of
the teeth or dark gap between them, or, closed, at their darkest row. Lips that are not clearly
red are refused, unless parted over the inside of a mouth.

A frame may fail (a hand, a blur): ``track_mouth`` fills such frames from their neighbours and
smooths the track over time; too few found and the avatar is refused with a clear message.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lipsync_svc.frames import FaceBox

# Where a frontal face's lips lie in a Haar face box (fractions of its size): the prior's centre
# and spread, and the region searched.
PRIOR_Y = 0.8
PRIOR_SIGMA_Y = 0.12
PRIOR_SIGMA_X = 0.18
SEARCH_X = 0.38
SEARCH_TOP = 0.55
SEARCH_BOTTOM = 1.05
# Plausible lip widths, as fractions of the face box width.
MIN_WIDTH = 0.18
MAX_WIDTH = 0.75
# Side of the square the search region is scaled to (speed, and one scale for every face).
WORK_SIDE = 96
# A blob this much redder than the skin (in units of the skin's own spread of a*) is lips.
MIN_CONTRAST = 1.7
# The same for lips parted over the inside of a mouth (dark, or teeth).
MIN_OPEN_CONTRAST = 1.1
# Share of frames in which the lips must be found for an avatar to be made.
MIN_FOUND_SHARE = 0.5


class NoMouthFound(ValueError):
    """No lips in the lower face of the frames."""


@dataclass(frozen=True)
class MouthBox:
    """The lips in frame pixels: corners left/right, top of the upper lip, bottom of the lower
    lip, and the lip line between them."""

    left: float
    right: float
    top: float
    bottom: float
    lip_y: float

    @property
    def center_x(self) -> float:
        """x of the middle between the corners."""
        return (self.left + self.right) / 2

    @property
    def half_width(self) -> float:
        """Half the distance between the corners."""
        return (self.right - self.left) / 2

    def as_array(self) -> np.ndarray:
        """[left, right, top, bottom, lip_y] as float32."""
        return np.array([self.left, self.right, self.top, self.bottom, self.lip_y], np.float32)


def _lip_map(region: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(redness above the skin in units of the skin's spread, lightness 0-1, chroma relative to
    the skin's) of a BGR region."""
    lab = cv2.cvtColor(region, cv2.COLOR_BGR2LAB).astype(np.float32)
    a_star = lab[..., 1] - 128.0
    skin = float(np.median(a_star))
    spread = float(np.median(np.abs(a_star - skin))) * 1.4826 + 1.0
    chroma = np.hypot(a_star, lab[..., 2] - 128.0)
    return (a_star - skin) / spread, lab[..., 0] / 255.0, chroma / (float(np.median(chroma)) + 1.0)


def _extent(
    profile: np.ndarray,
    start: int,
    threshold: float,
    gap: int,
    passable: np.ndarray | None = None,
    wide_gap: int = 0,
    floor: float | None = None,
) -> tuple[int, int]:
    """First and last index of the run of ``profile`` above ``threshold`` around ``start``.

    The run bridges dips of at most ``gap`` samples that stay above ``floor`` (skin between
    the lips and the nose falls to nothing), and dips of up to ``wide_gap`` samples that pass
    a ``passable`` sample (teeth or a dark open mouth between two lips).
    """

    def reach(step: int) -> int:
        end = index = start
        through = False  # the dip since ``end`` has passed a passable sample
        while 0 <= index + step < len(profile):
            nxt = index + step
            through = through or (passable is not None and bool(passable[nxt]))
            if abs(nxt - end) > (wide_gap if through else gap):
                break
            if not through and floor is not None and profile[nxt] < floor:
                ahead = range(nxt, min(max(nxt + step * (gap + 1), -1), len(profile)), step)
                if passable is None or not any(passable[i] for i in ahead):
                    break
            index = nxt
            if profile[index] >= threshold:
                end, through = index, False
        return end

    return reach(-1), reach(1)


def _parting_row(redness: np.ndarray, lightness: np.ndarray) -> int:
    """Index of the row where the lips part, from the redness and lightness down the mouth.

    Lips are never less red than skin, so rows that are (teeth, the inside of an open mouth)
    lie between the lips: the parting is the middle of the longest such run. A closed mouth
    parts at its darkest row, the shadow line between the lips.
    """
    inside = redness < 0
    best_start, best_length, start = 0, 0, None
    for index, flag in enumerate([*inside, False]):
        if flag and start is None:
            start = index
        elif not flag and start is not None:
            if index - start > best_length:
                best_start, best_length = start, index - start
            start = None
    if best_length:
        return best_start + best_length // 2
    return int(np.argmin(lightness))


def locate_mouth(frame: np.ndarray, face: FaceBox) -> MouthBox | None:
    """The lips of the face in ``face`` (a Haar box) in the BGR ``frame``, or None if unclear."""
    height, width = frame.shape[:2]
    cx = face.x + face.w / 2
    x0 = int(max(0, cx - SEARCH_X * face.w))
    x1 = int(min(width, cx + SEARCH_X * face.w))
    y0 = int(max(0, face.y + SEARCH_TOP * face.h))
    y1 = int(min(height, face.y + SEARCH_BOTTOM * face.h))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    scale = WORK_SIDE / (x1 - x0)
    work_h = max(8, round((y1 - y0) * scale))
    region = cv2.resize(frame[y0:y1, x0:x1], (WORK_SIDE, work_h), interpolation=cv2.INTER_AREA)
    red, light, chroma = _lip_map(region)
    red = cv2.GaussianBlur(red, (0, 0), 1.2)

    # Symmetry about the face's axis: a mouth is there on both sides, a shadow often on one.
    axis = (cx - x0) * scale
    xs = np.arange(WORK_SIDE, dtype=np.float32)
    mirrored_x = np.clip(2 * axis - xs, 0, WORK_SIDE - 1)
    mirrored = cv2.remap(
        red,
        np.broadcast_to(mirrored_x, red.shape).astype(np.float32),
        np.broadcast_to(np.arange(work_h, dtype=np.float32)[:, None], red.shape).astype(np.float32),
        cv2.INTER_LINEAR,
    )
    symmetric = np.minimum(red, mirrored)
    ys = np.arange(work_h, dtype=np.float32)[:, None]
    prior_y = (face.y + PRIOR_Y * face.h - y0) * scale
    prior = np.exp(
        -0.5 * ((xs[None, :] - axis) / (PRIOR_SIGMA_X * face.w * scale)) ** 2
        - 0.5 * ((ys - prior_y) / (PRIOR_SIGMA_Y * face.h * scale)) ** 2
    )
    score = symmetric * prior

    # Rows: the lips are the strongest band of the profile down the middle of the face; the band
    # runs on through a gap as tall as open teeth (which are not red) to the other lip.
    half_band = max(2, round(0.15 * face.w * scale))
    center_cols = slice(max(0, round(axis) - half_band), round(axis) + half_band + 1)
    row_profile = score[:, center_cols].mean(axis=1)
    peak = int(np.argmax(row_profile))
    contrast = float(symmetric[peak, center_cols].max())
    if contrast < MIN_OPEN_CONTRAST:
        return None
    # Rows that are clearly no skin may lie between the lips: teeth (far less colourful than
    # skin) or the dark inside of an open mouth.
    skin_light = float(np.median(light))
    # (Nostrils are dark too, but redder than the inside of a mouth.)
    interior = (chroma[:, center_cols].mean(axis=1) < 0.72) | (
        (light[:, center_cols].mean(axis=1) < skin_light - 0.15)
        & (red[:, center_cols].mean(axis=1) < 0.5)
    )
    top, bottom = _extent(
        row_profile,
        peak,
        0.2 * float(row_profile[peak]),
        gap=max(2, round(0.045 * face.h * scale)),
        passable=interior,
        wide_gap=max(3, round(0.15 * face.h * scale)),
        floor=0.1 * float(row_profile[peak]),
    )
    # Columns: how far the lips reach to each side, over those rows.
    col_profile = red[top : bottom + 1].mean(axis=0) * prior[top : bottom + 1].max(axis=0)
    start = center_cols.start + int(np.argmax(col_profile[center_cols]))
    left, right = _extent(col_profile, start, 0.3 * float(col_profile[start]), 2)
    bx, by, bw, bh = left, top, right - left + 1, bottom - top + 1
    width_share = bw / (face.w * scale)
    # (A wide-open mouth is nearly as tall as it is wide.)
    if not MIN_WIDTH <= width_share <= MAX_WIDTH or bh > 1.1 * bw:
        return None
    # Pale lips parted over a dark mouth or teeth are less red than closed ones, but the inside
    # of the mouth between them is evidence enough; closed, they must be clearly red.
    opened = bool(interior[top + 1 : bottom].any()) and bh >= 3
    if contrast < (MIN_OPEN_CONTRAST if opened else MIN_CONTRAST):
        return None

    # The lip line, from the middle half of the mouth's width.
    middle = slice(bx + bw // 4, bx + bw - bw // 4 + 1)
    line = by + _parting_row(
        red[by : by + bh, middle].mean(axis=1), light[by : by + bh, middle].mean(axis=1)
    )

    def to_frame_x(value: float) -> float:
        return x0 + value / scale

    def to_frame_y(value: float) -> float:
        return y0 + value / scale

    return MouthBox(
        left=to_frame_x(bx),
        right=to_frame_x(bx + bw),
        top=to_frame_y(by),
        bottom=to_frame_y(by + bh),
        lip_y=to_frame_y(line + 0.5),
    )


def track_mouth(frames: np.ndarray, boxes: np.ndarray, *, looped: bool = True) -> np.ndarray:
    """The lips in every frame, (N, 5) float32 as ``MouthBox.as_array``, steady over time.

    Frames where the lips are unclear take values interpolated from their neighbours; a running
    median then drops outliers and a running mean steadies the rest. With ``looped`` the frames
    are an idle loop, whose last frame leads into its first, and smoothing wraps around.

    Raises:
        NoMouthFound: The lips were found in fewer than half the frames.
    """
    count = len(frames)
    found = [locate_mouth(frames[i], FaceBox.from_array(boxes[i])) for i in range(count)]
    known = [i for i, box in enumerate(found) if box is not None]
    if len(known) < max(1, MIN_FOUND_SHARE * count):
        raise NoMouthFound(
            f"no mouth found: the lips were visible in {len(known)} of {count} frames; use a "
            "video of one face looking at the camera, mouth visible and well lit"
        )
    values = np.stack([found[i].as_array() for i in known])  # type: ignore[union-attr]
    index = np.arange(count)
    period = count if looped else None
    track = np.stack(
        [np.interp(index, known, values[:, c], period=period) for c in range(5)], axis=1
    )
    window = min(5, count if count % 2 else count - 1)
    if window >= 3:
        pad = window // 2
        padded = (
            np.pad(track, ((pad, pad), (0, 0)), mode="wrap")
            if looped
            else np.pad(track, ((pad, pad), (0, 0)), mode="edge")
        )
        windows = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)
        track = np.median(windows, axis=2)
        padded = (
            np.pad(track, ((pad, pad), (0, 0)), mode="wrap")
            if looped
            else np.pad(track, ((pad, pad), (0, 0)), mode="edge")
        )
        kernel = np.ones(window) / window
        track = np.stack(
            [np.convolve(padded[:, c], kernel, mode="valid") for c in range(5)], axis=1
        )
    return track.astype(np.float32)
