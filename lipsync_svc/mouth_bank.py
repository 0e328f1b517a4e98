"""The person's own mouth: mouth images taken from their video, indexed by how open they are.

When the uploaded video shows the person speaking (an audio track with speech, and a mouth that
opens and closes in the frames), each frame's mouth is measured (how much of the lips' box is
the inside of a mouth: dark cavity or teeth) and a few frames spanning closed to wide open are
kept as patches in a normalised frame of reference: anchored at the middle of the upper lip's
top (which stays put while the jaw drops), scaled by the face's width (a mouth narrows as it
opens, so its own width would be no steady unit). To speak, the patch whose opening matches
the wanted shape (the two nearest, cross-faded; they are aligned, so there is no double image)
is scaled onto the idle frame's mouth and blended in with a feathered mask over lips and jaw,
its colour matched to the frame around it: the person's real lips and teeth, on a CPU.

Silent or still videos get no bank; the warp (mouth_warp) moves their mouth instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lipsync_svc.frames import FaceBox
from lipsync_svc.mouth import MouthShape
from lipsync_svc.mouth_locator import MouthBox, locate_mouth

# The normalised patch: a typical mouth half width in pixels (0.2 of the face box's width), the
# patch's size, and where the top of the upper lip lies in it (room for the jaw below).
# (Fine enough that a 512 px avatar's mouth loses no detail.)
HALF_WIDTH = 40.0
FACE_UNIT = 0.2
PATCH_W, PATCH_H = round(4.7 * HALF_WIDTH), round(4.35 * HALF_WIDTH)
CENTRE = (PATCH_W / 2, 1.25 * HALF_WIDTH)
# Most patches kept.
MAX_ENTRIES = 10
# A video "shows speech" when its mouth opening spans at least this (opening / mouth width).
MIN_OPENING_RANGE = 0.08
# The avatar's cached arrays that hold a bank.
PATCHES_CACHE = "mouth_bank_patches"
OPENINGS_CACHE = "mouth_bank_openings"
SOURCES_CACHE = "mouth_bank_sources"


@dataclass(frozen=True)
class MouthBank:
    """Mouth patches (N, PATCH_H, PATCH_W, 3) uint8, their openings (N,) ascending, and the
    frame each came from (N,)."""

    patches: np.ndarray
    openings: np.ndarray
    sources: np.ndarray

    def caches(self) -> dict[str, np.ndarray]:
        """The bank as arrays to store with the avatar."""
        return {
            PATCHES_CACHE: self.patches,
            OPENINGS_CACHE: self.openings,
            SOURCES_CACHE: self.sources,
        }

    def pick(self, opening: float) -> tuple[int, int, float]:
        """The two entries around relative ``opening`` (0 closed .. 1 the widest in the bank)
        and the weight of the second."""
        target = float(np.clip(opening, 0, 1)) * float(self.openings[-1] - self.openings[0])
        target += float(self.openings[0])
        upper = int(np.searchsorted(self.openings, target))
        if upper <= 0:
            return 0, 0, 0.0
        if upper >= len(self.openings):
            last = len(self.openings) - 1
            return last, last, 0.0
        lower = upper - 1
        span = float(self.openings[upper] - self.openings[lower])
        weight = (target - float(self.openings[lower])) / span if span > 0 else 0.0
        return lower, upper, weight


def mouth_opening(frame: np.ndarray, mouth: MouthBox) -> float:
    """How open the mouth is: height of the inside of the mouth between the lips (dark cavity or
    pale teeth) across its middle, as a fraction of the mouth's width."""
    half = max(1.0, mouth.half_width)
    x0, x1 = int(mouth.center_x - 0.3 * half), int(mouth.center_x + 0.3 * half) + 1
    y0, y1 = int(max(0, mouth.top)), int(mouth.bottom) + 1
    region = frame[y0:y1, max(0, x0) : x1]
    if region.size == 0:
        return 0.0
    lab = cv2.cvtColor(region, cv2.COLOR_BGR2LAB).astype(np.float32)
    light = lab[..., 0]
    chroma = np.hypot(lab[..., 1] - 128, lab[..., 2] - 128)
    lips_light = float(np.percentile(light, 60))
    lips_chroma = float(np.percentile(chroma, 75))
    inside = (light < 0.55 * lips_light) | (chroma < 0.45 * lips_chroma)
    rows = inside.mean(axis=1) > 0.3
    return float(rows.sum()) / (2 * half)


def _to_patch(mouth_x: float, lip_top: float, face_width: float) -> np.ndarray:
    """The 2x3 affine taking frame pixels to normalised patch pixels."""
    scale = HALF_WIDTH / max(FACE_UNIT * face_width, 1.0)
    return np.array(
        [[scale, 0, CENTRE[0] - scale * mouth_x], [0, scale, CENTRE[1] - scale * lip_top]],
        np.float32,
    )


def build_mouth_bank(frames: np.ndarray, boxes: np.ndarray) -> MouthBank | None:
    """A bank from frames of a person speaking, or None when the mouth hardly moves.

    Args:
        frames: (N, H, W, 3) BGR frames.
        boxes: Their face boxes, (N, 4) [x, y, w, h].
    """
    measured: list[tuple[float, int, MouthBox]] = []
    for index in range(len(frames)):
        mouth = locate_mouth(frames[index], FaceBox.from_array(boxes[index]))
        if mouth is not None:
            measured.append((mouth_opening(frames[index], mouth), index, mouth))
    if len(measured) < 4:
        return None
    openings = np.array([m[0] for m in measured])
    low, high = np.percentile(openings, 5), np.percentile(openings, 95)
    if high - low < MIN_OPENING_RANGE:
        return None
    # The frame nearest each of evenly spaced openings, closed to wide open; each frame once.
    chosen: list[tuple[float, int, MouthBox]] = []
    for level in np.linspace(low, high, MAX_ENTRIES):
        best = min(measured, key=lambda m: abs(m[0] - level))
        if all(best[1] != c[1] for c in chosen):
            chosen.append(best)
    chosen.sort(key=lambda m: m[0])
    patches = np.stack(
        [
            cv2.warpAffine(
                frames[index],
                _to_patch(mouth.center_x, mouth.top, float(boxes[index][2])),
                (PATCH_W, PATCH_H),
                flags=cv2.INTER_AREA,
                borderMode=cv2.BORDER_REPLICATE,
            )
            for _, index, mouth in chosen
        ]
    )
    return MouthBank(
        patches,
        np.array([c[0] for c in chosen], np.float32),
        np.array([c[1] for c in chosen], np.int32),
    )


def _blend_mask() -> np.ndarray:
    """Where a patch replaces the frame: lips and jaw, feathered, in patch pixels."""
    mask = np.zeros((PATCH_H, PATCH_W), np.float32)
    centre = (int(CENTRE[0]), int(CENTRE[1] + 0.7 * HALF_WIDTH))
    axes = (int(1.45 * HALF_WIDTH), int(1.3 * HALF_WIDTH))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, -1)
    return cv2.GaussianBlur(mask, (0, 0), 0.22 * HALF_WIDTH)


_MASK = _blend_mask()


def render_from_bank(
    frame: np.ndarray,
    geometry: np.ndarray,
    face_width: float,
    shape: MouthShape,
    bank: MouthBank,
) -> np.ndarray:
    """A copy of ``frame`` whose mouth is the bank's at ``shape.opening``.

    Args:
        frame: The idle frame (BGR, not modified).
        geometry: Its row of mouth_warp's geometry (centre x, lip line y, half width, top of
            the upper lip, ...).
        face_width: Width of its face box.
        shape: The mouth to show.
        bank: The person's mouths.
    """
    cx, top = float(geometry[0]), float(geometry[3])
    lower, upper, weight = bank.pick(shape.opening)
    # The patch's place in the frame, and the frame pixels it covers.
    forward = _to_patch(cx, top, face_width)
    scale = float(forward[0, 0])
    x0 = int(max(0, np.floor(cx - CENTRE[0] / scale)))
    y0 = int(max(0, np.floor(top - CENTRE[1] / scale)))
    x1 = int(min(frame.shape[1], np.ceil(cx + (PATCH_W - CENTRE[0]) / scale)))
    y1 = int(min(frame.shape[0], np.ceil(top + (PATCH_H - CENTRE[1]) / scale)))
    if x1 - x0 < 4 or y1 - y0 < 4:
        return frame
    # Patch pixels -> pixels of the region [x0, x1) x [y0, y1) of the frame.
    to_region = cv2.invertAffineTransform(forward)
    to_region[0, 2] -= x0
    to_region[1, 2] -= y0
    size = (x1 - x0, y1 - y0)
    # Each patch is scaled to the frame first (small, uint8), then the two are cross-faded;
    # OpenCV's own blends keep this cheap (it runs for every frame of speech).
    placed = cv2.warpAffine(bank.patches[lower], to_region, size, flags=cv2.INTER_LINEAR)
    if weight > 0:
        second = cv2.warpAffine(bank.patches[upper], to_region, size, flags=cv2.INTER_LINEAR)
        placed = cv2.addWeighted(placed, 1 - weight, second, weight, 0)
    alpha = cv2.warpAffine(_MASK, to_region, size, flags=cv2.INTER_LINEAR)
    region = frame[y0:y1, x0:x1]
    # Match the patch's colour to the frame's where they meet (light may differ between the
    # frame the patch came from and this one).
    ring = cv2.inRange(alpha, 0.2, 0.7)
    if cv2.countNonZero(ring) > 8:
        want = np.array(cv2.mean(region, ring)[:3])
        have = np.maximum(np.array(cv2.mean(placed, ring)[:3]), 1.0)
        gain = np.clip(want / have, 0.8, 1.25)
        placed = cv2.multiply(placed, np.array([*gain.tolist(), 0.0]))
    out = frame.copy()
    out[y0:y1, x0:x1] = cv2.blendLinear(placed, region, alpha, 1.0 - alpha)
    return out


def close_mouths(frames: np.ndarray, boxes: np.ndarray, bank: MouthBank) -> np.ndarray:
    """The frames with every open mouth replaced by the bank's closed one.

    A video of the person speaking makes an idle loop that would talk while the tutor
    listens; the listening face keeps its mouth shut.
    """
    out = frames.copy()
    closed = MouthShape(0.0, 0.0)
    threshold = float(bank.openings[0]) + 0.05
    for index in range(len(frames)):
        box = FaceBox.from_array(boxes[index])
        mouth = locate_mouth(frames[index], box)
        if mouth is None or mouth_opening(frames[index], mouth) <= threshold:
            continue
        geometry = np.array([mouth.center_x, mouth.lip_y, mouth.half_width, mouth.top], np.float32)
        out[index] = render_from_bank(frames[index], geometry, box.w, closed, bank)
    return out
