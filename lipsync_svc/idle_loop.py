"""Turning a clip into an idle loop that joins end to start without a visible jump.

No frames are blended: a cross-fade of frames that are not aligned shows a see-through double
head. Instead the loop is cut where the clip comes back to (nearly) the same picture: the loop
``clip[i:j]`` plays ``clip[j - 1]`` then ``clip[i]``, which looks like ``clip[j - 1]`` then
``clip[j]`` when ``clip[i]`` and ``clip[j]`` are alike. When no such pair exists (the head drifts
one way), the loop plays forward then backward (a ping-pong), whose turns are as smooth as the
clip itself.
"""

from __future__ import annotations

import cv2
import numpy as np

# Side of the small grey pictures frames are compared on.
COMPARE_SIDE = 48
# Loop lengths tried, as fractions of the length asked for.
SHORTEST = 0.75
LONGEST = 1.25
# A cut whose jump is at most this many times the clip's median frame-to-frame change is seamless.
SEAMLESS = 1.5


def _small(frames: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """Frames as small float32 grey pictures (N, side, side), for comparing."""
    out = []
    for frame in frames:
        grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        out.append(cv2.resize(grey, (COMPARE_SIDE, COMPARE_SIDE), interpolation=cv2.INTER_AREA))
    return np.stack(out).astype(np.float32)


def frame_changes(frames: list[np.ndarray] | np.ndarray) -> np.ndarray:
    """Mean absolute grey change between each frame and the next, the last to the first included."""
    small = _small(frames)
    return np.abs(np.roll(small, -1, axis=0) - small).mean(axis=(1, 2))


def loop_plan(frames: list[np.ndarray] | np.ndarray, wanted: int) -> list[int]:
    """The clip frames that make the loop, in playing order.

    Args:
        frames: The clip (grey or BGR pictures of any one size).
        wanted: The loop length asked for, in frames.
    """
    count = len(frames)
    if count == 0:
        raise ValueError("empty clip")
    if count <= 2:
        return list(range(count))
    small = _small(frames)
    steps = np.abs(small[1:] - small[:-1]).mean(axis=(1, 2))
    typical = max(float(np.median(steps)), 1e-3)
    shortest = max(2, round(SHORTEST * wanted))
    longest = min(count - 1, round(LONGEST * wanted))
    best: tuple[float, int, int] | None = None
    for length in range(shortest, longest + 1):
        # Cut clip[i:i+length]; its seam is as smooth as clip[i+length] is like clip[i].
        starts = np.arange(0, count - length)
        jumps = np.abs(small[starts + length] - small[starts]).mean(axis=(1, 2))
        # Prefer lengths near the one asked for when cuts are about as good.
        costs = jumps + 0.05 * typical * abs(length - wanted) / max(wanted, 1)
        k = int(np.argmin(costs))
        if best is None or costs[k] < best[0]:
            best = (float(costs[k]), int(starts[k]), length)
    if best is not None:
        _, start, length = best
        seam = float(np.abs(small[start + length - 1] - small[start]).mean())
        if seam <= SEAMLESS * max(typical, float(steps[start + length - 1])):
            return list(range(start, start + length))
    # Ping-pong over about half the length asked for each way.
    half = max(2, min(count, wanted // 2 + 1))
    forwards = list(range(half))
    return forwards + forwards[-2:0:-1]


def apply_plan(
    plan: list[int], frames: np.ndarray, boxes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The loop's frames (N, H, W, 3) uint8 and face boxes (N, 4) from the clip's."""
    index = np.asarray(plan, dtype=np.int64)
    return np.ascontiguousarray(frames[index]), np.ascontiguousarray(boxes[index])
