"""Opening the mouth of a real avatar by warping its own pixels (cv2.remap), not pasting.

Where the mouth is: the face detector gives a box; the lip line is the darkest row in the band
where a frontal face's mouth lies (about three quarters down the box), found per frame and
smoothed over the loop. How it opens: the jaw drops. Below the lip line the lower face shifts
down by the opening (tapered towards the mouth corners), the lip line's own dark row is
stretched into the gap, the region under the chin is compressed back so nothing below moves,
and the gap is shaded darker like the inside of a mouth. Spread and rounded shapes scale the
mouth band horizontally.
"""

from __future__ import annotations

import cv2
import numpy as np

from lipsync_svc.avatar import LoadedAvatar
from lipsync_svc.mouth import MouthShape

# Where a frontal face's lip line lies in a Haar face box, as a fraction of its height: the
# prior, and the band searched for the darkest row.
LIP_PRIOR = 0.77
LIP_BAND = (0.66, 0.9)
# Widest opening, as a fraction of the face box height.
MAX_GAP = 0.1


def _mouth_half_width(gray_row: np.ndarray, center: int, face_w: float) -> float:
    """Half the width of the dark lip line around ``center`` in a row profile."""
    skin = float(
        np.median(np.concatenate([gray_row[: len(gray_row) // 6], gray_row[-len(gray_row) // 6 :]]))
    )
    darkest = float(gray_row[max(0, center - 3) : center + 4].min())
    if skin - darkest < 12:  # no visible lip line: fall back on proportions
        return 0.2 * face_w
    dark = gray_row < (skin + darkest) / 2
    left = right = center
    while left > 0 and dark[left - 1]:
        left -= 1
    while right < len(dark) - 1 and dark[right + 1]:
        right += 1
    return float(np.clip(max(center - left, right - center), 0.1 * face_w, 0.25 * face_w))


def mouth_geometry(avatar: LoadedAvatar) -> np.ndarray:
    """Per idle frame: [mouth centre x, lip line y, mouth half width, chin y], float32 (N, 4)."""
    count = avatar.frame_count
    geometry = np.zeros((count, 4), dtype=np.float32)
    for index in range(count):
        x, y, w, h = (float(v) for v in avatar.boxes[index])
        cx = x + w / 2
        frame = avatar.frames[index]
        frame_h, frame_w = frame.shape[:2]
        top = int(max(0, y + LIP_BAND[0] * h))
        bottom = int(min(frame_h, y + LIP_BAND[1] * h))
        left = int(max(0, cx - 0.15 * w))
        right = int(min(frame_w, cx + 0.15 * w))
        lip_y = y + LIP_PRIOR * h
        half_w = 0.2 * w
        if bottom - top >= 3 and right - left >= 3:
            gray = cv2.cvtColor(frame[top:bottom, left:right], cv2.COLOR_BGR2GRAY)
            rows = np.convolve(gray.mean(axis=1), np.ones(3) / 3, mode="same")
            # Prefer rows near the prior when the band has no clear dark line.
            prior = np.abs(np.arange(len(rows)) + top - lip_y) / max(h, 1.0)
            lip_y = top + float(np.argmin(rows + 40.0 * prior))
            row_y = int(lip_y)
            wide_left = int(max(0, cx - 0.32 * w))
            wide_right = int(min(frame_w, cx + 0.32 * w))
            strip = cv2.cvtColor(
                frame[max(0, row_y - 1) : row_y + 2, wide_left:wide_right], cv2.COLOR_BGR2GRAY
            )
            if strip.size:
                half_w = _mouth_half_width(
                    strip.min(axis=0).astype(np.float32), int(cx) - wide_left, w
                )
        geometry[index] = (cx, lip_y, half_w, y + h)
    # Steady the lip line and mouth width around the loop (it wraps), so the warp does not
    # jitter from frame to frame.
    if count >= 3:
        kernel = np.ones(5) / 5
        for column in (1, 2):
            padded = np.concatenate(
                [geometry[-2:, column], geometry[:, column], geometry[:2, column]]
            )
            geometry[:, column] = np.convolve(padded, kernel, mode="valid")[:count]
    return geometry


def warp_mouth(frame: np.ndarray, geometry: np.ndarray, shape: MouthShape) -> np.ndarray:
    """A copy of ``frame`` with its mouth opened and shaped as ``shape`` says.

    Args:
        frame: BGR picture (not modified).
        geometry: This frame's row of ``mouth_geometry``.
        shape: The mouth to show.
    """
    if shape.closed:
        return frame
    cx, lip_y, half_w, chin_y = (float(v) for v in geometry)
    jaw = chin_y - lip_y
    face_h = jaw / (1 - LIP_PRIOR)
    opening = float(np.clip(shape.opening, 0, 1)) * MAX_GAP * face_h
    height, width = frame.shape[:2]
    x0 = int(max(0, cx - 0.5 * face_h))
    x1 = int(min(width, cx + 0.5 * face_h + 1))
    y0 = int(max(0, lip_y - 0.8 * half_w))
    y1 = int(min(height, chin_y + 0.4 * face_h))
    if x1 - x0 < 4 or y1 - y0 < 4 or y1 <= chin_y + opening + 1:
        return frame

    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    # The chin drops by `drop` (the whole jaw, tapering off beside it); the lips part by `gap`
    # (lens-shaped between the mouth corners); the cheeks in between stretch linearly.
    drop = opening * 0.5 * (1 + np.cos(np.pi * np.minimum(np.abs(xs - cx) / (0.45 * face_h), 1)))
    u = (xs - cx) / (1.05 * half_w)
    lens = np.sqrt(np.clip(1 - u**2, 0, 1))
    gap = drop * lens
    src_y = ys.copy()
    in_gap = (ys >= lip_y) & (ys < lip_y + gap)
    src_y[in_gap] = lip_y
    cheek = (ys >= lip_y + gap) & (ys < chin_y + drop)
    src_y[cheek] = lip_y + (ys[cheek] - lip_y - gap[cheek]) / (1 + (drop[cheek] - gap[cheek]) / jaw)
    below = ys >= chin_y + drop
    src_y[below] = chin_y + (ys[below] - chin_y - drop[below]) * (y1 - chin_y) / (
        y1 - chin_y - drop[below]
    )
    # Spread (width > 0) samples nearer the centre, so the mouth looks wider; rounded, farther.
    band = np.exp(-(((ys - lip_y - gap / 2) / (0.7 * half_w)) ** 2))
    taper = 0.5 * (1 + np.cos(np.pi * np.minimum(np.abs(xs - cx) / (1.8 * half_w), 1.0)))
    squeeze = 1 - 0.14 * float(np.clip(shape.width, -1, 1)) * band * taper
    src_x = cx + (xs - cx) * squeeze

    region = cv2.remap(frame, src_x, src_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # Shade the opening like the inside of a mouth: darkest mid-gap, between the corners.
    depth = np.where(in_gap, np.sin(np.pi * (ys - lip_y) / np.maximum(gap, 1e-3)), 0.0)
    shade = 1 - 0.65 * min(1.0, 3 * opening / max(half_w, 1.0)) * np.sqrt(depth) * lens
    region = (region.astype(np.float32) * shade[..., None]).astype(np.uint8)
    out = frame.copy()
    out[y0:y1, x0:x1] = region
    return out
