"""Turning a clip into an idle loop that joins end to start without a visible jump."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LoopFrame:
    """Loop frame = (1 - alpha) * clip[first] + alpha * clip[second]."""

    first: int
    second: int
    alpha: float


def loop_plan(clip_frames: int, crossfade: int) -> list[LoopFrame]:
    """How to build a seamless loop from a clip of ``clip_frames`` frames.

    With enough frames, the loop starts ``crossfade`` frames into the clip and, over its last
    ``crossfade`` frames, fades into the clip's first frames, so that its last frame leads into
    its first exactly as consecutive clip frames do; it is ``clip_frames - crossfade`` long. A
    shorter clip plays forwards then backwards (a ping-pong), which also joins without a jump.
    """
    if clip_frames <= 0:
        raise ValueError("empty clip")
    if crossfade >= 1 and clip_frames >= 2 * crossfade + 2:
        length = clip_frames - crossfade
        plan = []
        for i in range(length):
            j = i - (length - crossfade)
            if j < 0:
                plan.append(LoopFrame(crossfade + i, crossfade + i, 0.0))
            else:
                plan.append(LoopFrame(crossfade + i, j, (j + 1) / (crossfade + 1)))
        return plan
    forwards = list(range(clip_frames))
    backwards = forwards[-2:0:-1]
    return [LoopFrame(i, i, 0.0) for i in forwards + backwards]


def apply_plan(
    plan: list[LoopFrame], frames: np.ndarray, boxes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The loop's frames (N, H, W, 3) uint8 and face boxes (N, 4) from the clip's."""
    out_frames = np.empty((len(plan), *frames.shape[1:]), dtype=np.uint8)
    out_boxes = np.empty((len(plan), 4), dtype=np.float32)
    for k, step in enumerate(plan):
        if step.alpha == 0.0:
            out_frames[k] = frames[step.first]
            out_boxes[k] = boxes[step.first]
            continue
        a, b = frames[step.first].astype(np.float32), frames[step.second].astype(np.float32)
        out_frames[k] = np.clip(a + (b - a) * step.alpha + 0.5, 0, 255).astype(np.uint8)
        out_boxes[k] = boxes[step.first] + (boxes[step.second] - boxes[step.first]) * step.alpha
    return out_frames, out_boxes
