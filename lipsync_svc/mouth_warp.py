"""Opening a real face's own mouth by warping its lower face, and drawing the inside of the mouth.

Nothing is pasted over the lips. Per column of the lower face (a smooth displacement field):
the upper lip rises a little, the lower lip and the jaw drop, the skin between lower lip and chin
stretches, and below the chin the field fades back to nothing, so the neck and collar stay put;
above the upper lip it fades out before the nose. The lips part only between the mouth corners
(a lens-shaped gap); the jaw drops over a wider, tapered span. The gap between the real lips is
drawn as the inside of a mouth: a dark cavity tinted by the lips' own colour, the upper teeth
as a light band under the upper lip, feathered at its edges. Spread and rounded shapes scale
the mouth horizontally about its centre.

Per idle frame the geometry comes from ``mouth_locator.track_mouth``:
``[centre x, lip line y, half width, upper lip top, lower lip bottom, chin y]``.
"""

from __future__ import annotations

import cv2
import numpy as np

from lipsync_svc.avatar import LoadedAvatar
from lipsync_svc.mouth import MouthShape
from lipsync_svc.mouth_locator import track_mouth

# Widest opening of the lips, as a fraction of the mouth's width.
MAX_OPENING = 0.34
# Share of the opening taken by the upper lip rising (the rest is the jaw dropping).
UPPER_SHARE = 0.3
# The jaw drops over this many mouth half widths each side of the centre.
JAW_SPAN = 2.4
# How strongly spread / rounded shapes widen / narrow the mouth.
WIDTH_GAIN = 0.16


def mouth_geometry(avatar: LoadedAvatar) -> np.ndarray:
    """Per idle frame: [centre x, lip line y, half width, upper top, lower bottom, chin y].

    Raises:
        NoMouthFound: The avatar's frames show no lips.
    """
    lips = track_mouth(avatar.frames, avatar.boxes, looped=True)
    left, right, top, bottom, lip_y = lips.T
    half_w = (right - left) / 2
    face_bottom = avatar.boxes[:, 1] + avatar.boxes[:, 3]
    # The Haar box ends near the chin; a mouth is about 0.7 of its width above the chin.
    chin = np.maximum(face_bottom, lip_y + 1.4 * half_w)
    chin = np.maximum(chin, bottom + 0.5 * half_w)
    shape = np.stack([(left + right) / 2, lip_y, half_w, top, bottom, chin], axis=1)
    colours = np.stack(
        [_palette(frame, row) for frame, row in zip(avatar.frames, shape, strict=True)]
    )
    return np.concatenate([shape, colours], axis=1).astype(np.float32)


def _palette(frame: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """Colours of the inside of this mouth, lit like its lips: [cavity BGR, teeth BGR, tongue BGR,
    teeth to draw (0 or 1)]."""
    cx, lip_y, half_w, top, bottom, _ = (float(v) for v in shape)
    x0, x1 = int(max(0, cx - 0.6 * half_w)), int(cx + 0.6 * half_w) + 1
    y0, y1 = int(max(0, top)), int(max(top + 1, bottom)) + 1
    lips = frame[y0:y1, x0:x1].reshape(-1, 3).astype(np.float32)
    lip_colour = np.median(lips, axis=0) if len(lips) else np.array([90, 90, 150], np.float32)
    # Teeth are lit like the brightest skin around the mouth, a little less.
    around = frame[
        int(max(0, top - half_w)) : int(bottom + half_w) + 1,
        int(max(0, cx - 2 * half_w)) : int(cx + 2 * half_w) + 1,
    ].reshape(-1, 3)
    light = float(np.percentile(around.mean(axis=1), 95)) if len(around) else 180.0
    # A dark red-brown (as the drawn avatar's), lit like these lips and tinted by them.
    brightness = float(lip_colour.mean()) / 140.0
    cavity = 0.5 * lip_colour * np.array([0.18, 0.18, 0.3], np.float32) + 0.5 * np.array(
        [34, 24, 58], np.float32
    ) * np.clip(brightness, 0.5, 1.5)
    teeth = np.clip(np.array([0.9, 0.95, 1.0], np.float32) * max(140.0, 0.95 * light), 0, 235)
    teeth = 0.85 * teeth + 0.15 * lip_colour * (teeth.mean() / max(1.0, float(lip_colour.mean())))
    tongue = lip_colour * np.array([0.5, 0.5, 0.72], np.float32)
    # A mouth that already shows its teeth (a smile) keeps its own: none are drawn.
    draw_teeth = 1.0
    row = frame[max(0, int(lip_y) - 2) : max(1, int(lip_y)), x0:x1].reshape(-1, 3)
    if len(row) and len(lips):
        hsv = cv2.cvtColor(row[None].astype(np.uint8), cv2.COLOR_BGR2HSV)[0]
        lip_hsv = cv2.cvtColor(lip_colour[None, None].astype(np.uint8), cv2.COLOR_BGR2HSV)[0, 0]
        if hsv[:, 1].mean() < 0.6 * lip_hsv[1] and hsv[:, 2].mean() > 1.1 * lip_hsv[2]:
            draw_teeth = 0.0
    return np.concatenate([cavity, teeth, tongue, [draw_teeth]]).astype(np.float32)


def _draw_inside(
    region: np.ndarray,
    ys: np.ndarray,
    upper_edge: np.ndarray,
    lower_edge: np.ndarray,
    u: np.ndarray,
    relative_opening: float,
    half_w: float,
    palette: np.ndarray,
) -> np.ndarray:
    """``region`` (float32 BGR rows ``ys``) with the inside of the mouth drawn between the lips."""
    cavity, teeth, tongue, draw_teeth = palette[0:3], palette[3:6], palette[6:9], palette[9]
    gap = lower_edge - upper_edge
    below_lip = ys - upper_edge
    depth = below_lip / np.maximum(gap, 1e-3)  # 0 at the upper lip .. 1 at the lower
    alpha = np.clip(np.minimum(below_lip, lower_edge - ys) + 0.5, 0, 1) * np.clip(gap, 0, 1)
    # Darkest towards the back of the mouth, lighter just inside the lips and towards the corners
    # (the lips' inner sides catch light).
    shade = 0.65 + 1.2 * (depth - 0.45) ** 2 + 0.5 * np.abs(u)[None, :] ** 3
    inside = cavity[None, None, :] * shade[..., None]
    show = float(np.clip((relative_opening * half_w - 1.5) / (0.25 * half_w), 0, 1))
    # The tongue, low in the mouth once it is open wide.
    lens = np.clip(1 - u**2, 0, 1)[None, :]
    tongue_alpha = np.clip((depth - 0.62) / 0.3, 0, 1) * 0.55 * show * lens
    inside += (tongue[None, None, :] - inside) * tongue_alpha[..., None]
    if draw_teeth:
        # The upper teeth: a light band under the upper lip across the middle of the mouth.
        teeth_height = np.minimum(0.38 * gap, 0.26 * half_w)
        teeth_alpha = (
            np.clip(teeth_height - below_lip + 0.5, 0, 1)
            * (below_lip >= 0)
            * np.clip(1.8 - 2.0 * np.abs(u)[None, :], 0, 1)
            * (0.9 * show)
        )
        fade = 1 - 0.3 * np.clip(below_lip / np.maximum(teeth_height, 1e-3), 0, 1)
        inside += (teeth[None, None, :] * fade[..., None] - inside) * teeth_alpha[..., None]
    result: np.ndarray = region + (inside - region) * alpha[..., None]
    return result


def warp_mouth(frame: np.ndarray, geometry: np.ndarray, shape: MouthShape) -> np.ndarray:
    """A copy of ``frame`` with its mouth opened and shaped as ``shape`` says.

    Args:
        frame: BGR picture (not modified).
        geometry: This frame's row of ``mouth_geometry``.
        shape: The mouth to show.
    """
    if shape.closed:
        return frame
    cx, lip_y, half_w, top, _, chin = (float(v) for v in geometry[:6])
    opening = float(np.clip(shape.opening, 0, 1)) * MAX_OPENING * 2 * half_w
    height, width = frame.shape[:2]
    jaw = chin - lip_y
    # Above: the field fades out between the upper lip and the nose.
    anchor_top = max(0.0, top - 1.2 * max(lip_y - top, 0.25 * half_w))
    y1 = min(float(height), chin + 0.9 * jaw + opening)
    x0 = int(max(0, cx - JAW_SPAN * half_w))
    x1 = int(min(width, cx + JAW_SPAN * half_w + 1))
    r0, r1 = int(anchor_top), int(np.ceil(y1))
    if x1 - x0 < 4 or r1 - r0 < 4 or jaw < 2 or opening < 0.5:
        return frame

    xs = np.arange(x0, x1, dtype=np.float32)
    u = (xs - cx) / half_w
    # Lips part between the corners; the jaw drops over a wider span, tapering to nothing.
    # The upper lip curves more sharply to the corners than the lower (a real mouth's shape).
    lens = np.clip(1 - u**2, 0, 1) ** 0.8
    upper_lens = np.clip(1 - u**2, 0, 1) ** 1.4
    jaw_taper = 0.5 * (1 + np.cos(np.pi * np.minimum(np.abs(u) / JAW_SPAN, 1)))
    up = (UPPER_SHARE * opening * upper_lens)[None, :]
    low = ((1 - UPPER_SHARE) * opening * lens)[None, :]
    drop = ((1 - UPPER_SHARE) * opening * jaw_taper)[None, :]

    ys = np.arange(r0, r1, dtype=np.float32)[:, None]
    upper_edge = lip_y - up
    lower_edge = lip_y + low
    src_y = np.broadcast_to(ys, (r1 - r0, x1 - x0)).copy()
    above = ys < upper_edge
    src_y = np.where(
        above,
        anchor_top
        + (ys - anchor_top) * (lip_y - anchor_top) / np.maximum(upper_edge - anchor_top, 1),
        src_y,
    )
    skin = (ys >= lower_edge) & (ys < chin + drop)
    src_y = np.where(
        skin, lip_y + (ys - lower_edge) * jaw / np.maximum(chin + drop - lower_edge, 1), src_y
    )
    below = ys >= chin + drop
    src_y = np.where(
        below, chin + (ys - chin - drop) * (y1 - chin) / np.maximum(y1 - chin - drop, 1), src_y
    )
    src_y = np.where(~(above | skin | below), lip_y, src_y)

    # Spread (width > 0) samples nearer the centre, so the mouth looks wider; rounded, farther.
    width_change = WIDTH_GAIN * float(np.clip(shape.width, -1, 1))
    if abs(width_change) > 1e-3:
        near = np.exp(-(((ys - lip_y) / (1.2 * half_w + opening)) ** 2))
        taper = 0.5 * (1 + np.cos(np.pi * np.minimum(np.abs(u) / 2.0, 1.0)))[None, :]
        src_x = (cx + (xs[None, :] - cx) * (1 - width_change * near * taper)).astype(np.float32)
    else:
        src_x = np.broadcast_to(xs[None, :], src_y.shape).astype(np.float32)

    out = frame.copy()
    region = out[r0:r1, x0:x1]
    cv2.remap(
        frame,
        src_x,
        src_y.astype(np.float32),
        cv2.INTER_LINEAR,
        dst=region,
        borderMode=cv2.BORDER_REPLICATE,
    )

    # The inside of the mouth between the parted lips, feathered by a pixel at its edges; only
    # the band of rows and columns it can cover is computed.
    b0 = max(0, int(lip_y - UPPER_SHARE * opening) - 1 - r0)
    b1 = min(r1 - r0, int(np.ceil(lip_y + (1 - UPPER_SHARE) * opening)) + 2 - r0)
    c0 = max(0, int(cx - half_w) - x0)
    c1 = min(x1 - x0, int(np.ceil(cx + half_w)) + 1 - x0)
    if b1 > b0 and c1 > c0:
        band = (slice(b0, b1), slice(c0, c1))
        inside = _draw_inside(
            region[band].astype(np.float32),
            ys[b0:b1],
            upper_edge[:, c0:c1],
            lower_edge[:, c0:c1],
            u[c0:c1],
            opening / half_w,
            half_w,
            geometry[6:],
        )
        region[band] = np.clip(inside + 0.5, 0, 255).astype(np.uint8)
    return out
