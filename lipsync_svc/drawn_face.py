"""The built-in avatar: a face drawn by code, so the service needs no photograph to start.

The face is drawn once, at rest, in its own "head" canvas (shaded skin, hair, ears, brows, nose),
then each frame adds the eyes (blinking) and the mouth (any opening and width) and places the
head on the background with a small sway and tilt. The motion is periodic over the idle loop, so
the loop joins end to start without a seam. It is drawn with enough contrast around the eyes,
brows, nose and mouth that OpenCV's frontal-face Haar cascade finds it, which lets the same
face serve as the test video for avatar creation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from lipsync_svc.frames import FaceBox, halved
from lipsync_svc.mouth import CLOSED, MouthShape

# Colours are BGR, as everywhere in OpenCV.
_SKIN = np.array([150, 182, 226], dtype=np.float32)
_HAIR = (38, 48, 62)
_BROW = (40, 48, 60)
_LIP = (92, 96, 178)
_LIP_DARK = (58, 52, 120)
_MOUTH_INSIDE = (34, 24, 52)
_TEETH = (226, 232, 238)
_SHIRT = (110, 82, 58)
_IRIS = (40, 70, 96)


def _soft(mask: np.ndarray, sigma: float) -> np.ndarray:
    """A drawn 0/255 mask, blurred, as float weights (H, W, 1) in [0, 1]."""
    blurred: np.ndarray = cv2.GaussianBlur(mask, (0, 0), sigma)
    return blurred.astype(np.float32)[..., None] / 255


def _darken(layer: np.ndarray, weights: np.ndarray, strength: float) -> np.ndarray:
    """``layer`` darkened by up to ``strength`` where ``weights`` is 1."""
    return (layer * (1 - strength * weights)).astype(np.uint8)


def _shade(color: np.ndarray, factor: float) -> tuple[int, ...]:
    """``color`` scaled by ``factor``, as the tuple cv2 drawing takes."""
    return tuple(int(c) for c in color * factor)


Color = tuple[int, ...] | int


def _ellipse(
    image: np.ndarray,
    center: tuple[float, float],
    axes: tuple[float, float],
    color: Color,
    arc: tuple[int, int] = (0, 360),
    thickness: int = -1,
) -> None:
    """An anti-aliased ellipse (filled unless ``thickness`` is given), pixels truncated."""
    cv2.ellipse(
        image,
        (int(center[0]), int(center[1])),
        (int(axes[0]), int(axes[1])),
        0,
        arc[0],
        arc[1],
        color,
        thickness,
        cv2.LINE_AA,
    )


def _fixed(points: list[tuple[float, float]]) -> np.ndarray:
    # cv2 takes sub-pixel coordinates as fixed point: 4 fractional bits (shift=4).
    return np.array([[round(x * 16), round(y * 16)] for x, y in points], dtype=np.int32)


def _polygon(image: np.ndarray, points: list[tuple[float, float]], color: Color) -> None:
    """A filled, anti-aliased polygon with sub-pixel corners."""
    cv2.fillPoly(image, [_fixed(points)], color, cv2.LINE_AA, shift=4)


def _polyline(
    image: np.ndarray, points: list[tuple[float, float]], color: Color, thickness: int
) -> None:
    """An open, anti-aliased line through sub-pixel points."""
    cv2.polylines(image, [_fixed(points)], False, color, thickness, cv2.LINE_AA, shift=4)


@dataclass(frozen=True)
class _Placement:
    """The mouth patch's place in one loop frame: the affine map from patch pixels into the
    box at ``origin`` (x, y) of ``size`` (w, h), and the pixels it replaces there (an (h, w)
    uint8 mask, as ``cv2.copyTo`` takes it)."""

    matrix: np.ndarray
    origin: tuple[int, int]
    size: tuple[int, int]
    mask: np.ndarray


def _halved_with(
    idle_frame: np.ndarray,
    small_idle: np.ndarray,
    times: int,
    origin: tuple[int, int],
    patch: np.ndarray,
    replace: np.ndarray,
) -> np.ndarray:
    """``halved(frame, times)``, where ``frame`` is ``idle_frame`` with the ``replace`` pixels
    of ``patch`` (placed at ``origin``) drawn in, made from ``small_idle`` (``idle_frame``
    halved ``times`` times) by halving only the blocks the patch touches."""
    step = 1 << times
    x0, y0 = origin
    y1, x1 = y0 + patch.shape[0], x0 + patch.shape[1]
    # The patch's region widened to whole blocks of step x step pixels: every output pixel
    # there depends only on its own block.
    bx0, by0 = x0 // step * step, y0 // step * step
    bx1, by1 = -(-x1 // step) * step, -(-y1 // step) * step
    region = idle_frame[by0:by1, bx0:bx1].copy()
    cv2.copyTo(patch, replace, region[y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0])
    frame = small_idle.copy()
    frame[by0 // step : by1 // step, bx0 // step : bx1 // step] = halved(region, times)
    return frame


@dataclass(frozen=True)
class HeadPose:
    """Placement of the head in one frame: shift in pixels, tilt in degrees, eye closure 0..1."""

    dx: float
    dy: float
    tilt_deg: float
    blink: float


class DrawnFace:
    """Draws the built-in avatar's frames.

    Args:
        size: Width and height of the (square) frames in pixels; even.
        loop_frames: Frames in the idle loop; the sway and blinks repeat with this period.
    """

    def __init__(self, size: int = 512, loop_frames: int = 100) -> None:
        if size % 2 or size < 64:
            raise ValueError("size must be even and at least 64")
        self.size = size
        self.loop_frames = loop_frames
        s = size
        # Canonical (at rest) geometry, in frame pixels.
        self.head_center = (0.5 * s, 0.44 * s)
        self.head_axes = (0.205 * s, 0.262 * s)
        self.eye_y = 0.425 * s
        self.eye_dx = 0.083 * s
        self.mouth_center = (0.5 * s, 0.6 * s)
        self.mouth_half_width = 0.062 * s
        self._placements: dict[int, _Placement] = {}
        # The head canvas covers this region of the frame (with room for the sway).
        pad = int(0.04 * s)
        self._roi = (
            int(0.5 * s - 0.27 * s) - pad,
            int(0.44 * s - 0.33 * s) - pad,
            int(0.5 * s + 0.27 * s) + pad,
            int(0.44 * s + 0.33 * s) + pad,
        )

    # -- what other parts need ---------------------------------------------------------------

    def pose(self, index: int) -> HeadPose:
        """The head's placement in frame ``index`` of the idle loop (periodic in loop_frames)."""
        phase = 2 * math.pi * (index % self.loop_frames) / self.loop_frames
        scale = self.size / 512
        # Two blinks per loop, each three frames (about 120 ms at 25 fps).
        blink = 0.0
        for start in (int(0.22 * self.loop_frames), int(0.71 * self.loop_frames)):
            step = (index % self.loop_frames) - start
            if step in (0, 2):
                blink = 0.55
            elif step == 1:
                blink = 1.0
        return HeadPose(
            dx=3.5 * scale * math.sin(phase),
            dy=1.8 * scale * math.sin(2 * phase + 0.5),
            tilt_deg=1.6 * math.sin(phase + 1.0),
            blink=blink,
        )

    def face_box(self, index: int) -> FaceBox:
        """Where a frontal-face detector puts the face in frame ``index`` (brows to chin).

        Matches what OpenCV's Haar cascade reports for this drawing, so engines place the
        mouth as they would on a detected face.
        """
        pose = self.pose(index)
        side = 0.5 * self.size
        cx = self.head_center[0] + pose.dx
        cy = 0.472 * self.size + pose.dy
        return FaceBox(cx - side / 2, cy - side / 2, side, side)

    def _head_matrix(self, pose: HeadPose) -> np.ndarray:
        """Affine map from head-canvas pixels to frame pixels for ``pose``."""
        x0, y0 = self._roi[0], self._roi[1]
        # Rotate about the neck and shift, in the head canvas's own coordinates.
        pivot = (self.head_center[0] - x0, 0.68 * self.size - y0)
        matrix = cv2.getRotationMatrix2D(pivot, pose.tilt_deg, 1.0)
        matrix[0, 2] += pose.dx + x0
        matrix[1, 2] += pose.dy + y0
        return matrix

    def render(self, index: int, mouth: MouthShape = CLOSED) -> np.ndarray:
        """Frame ``index`` of the loop (BGR, size x size) with the given mouth."""
        pose = self.pose(index)
        x0, y0, x1, y1 = self._roi
        head = self._head_layer.copy()
        self._draw_eyes(head, pose.blink)
        self._draw_mouth(head, mouth, (x0, y0))
        matrix = self._head_matrix(pose)
        matrix[:, 2] -= (x0, y0)  # into the region the head canvas covers
        size = (x1 - x0, y1 - y0)
        warped = cv2.warpAffine(
            head, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )
        alpha = cv2.warpAffine(
            self._head_alpha, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )[..., None]
        frame = self._background.copy()
        region = frame[y0:y1, x0:x1].astype(np.float32)
        region += (warped.astype(np.float32) - region) * alpha
        frame[y0:y1, x0:x1] = region.astype(np.uint8)
        return frame

    def render_mouth(
        self,
        idle_frame: np.ndarray,
        index: int,
        mouth: MouthShape,
        *,
        halvings: int = 0,
        small_idle: np.ndarray | None = None,
    ) -> np.ndarray:
        """``render(index, mouth)`` made cheaply from the idle frame ``render(index)``.

        Only a patch around the mouth is redrawn and placed with the head's pose; everything
        else is the idle frame's. This is what makes the drawn avatar cheap to animate.

        With ``halvings`` (and ``small_idle``, the idle frame halved that many times, as
        ``frames.halved`` makes it), the frame comes back at that smaller size: only the
        patch's region of the full-size frame is drawn and halved, and it replaces the same
        pixels of the small idle frame. Halving averages aligned 2x2 blocks, so the result is
        exactly ``halved(render_mouth(...), halvings)`` (the small idle loop and the talking
        frames join without a seam) at a fraction of the cost: no full-size frame is copied
        or scaled.
        """
        px0, py0, px1, py1 = self._mouth_patch
        rx0, ry0 = self._roi[0], self._roi[1]
        patch = self._head_layer[py0 - ry0 : py1 - ry0, px0 - rx0 : px1 - rx0].copy()
        self._draw_mouth(patch, mouth, (px0, py0))
        place = self._mouth_placement(index)
        warped = cv2.warpAffine(patch, place.matrix, place.size, flags=cv2.INTER_LINEAR)
        if halvings:
            if small_idle is None:
                raise ValueError("halvings needs the small idle frame")
            return _halved_with(idle_frame, small_idle, halvings, place.origin, warped, place.mask)
        frame = idle_frame.copy()
        (dx0, dy0), (w, h) = place.origin, place.size
        # A masked copy in place: ~0.004 ms, where boolean indexing took ~0.5 ms a frame.
        cv2.copyTo(warped, place.mask, frame[dy0 : dy0 + h, dx0 : dx0 + w])
        return frame

    @cached_property
    def _mouth_patch(self) -> tuple[int, int, int, int]:
        """The region redrawn for the mouth, in frame coordinates of the head at rest: room
        for the widest mouth and the lowest jaw."""
        s = self.size
        mx, my = self.mouth_center
        return int(mx - 0.11 * s), int(my - 0.035 * s), int(mx + 0.11 * s), int(my + 0.1 * s)

    def _mouth_placement(self, index: int) -> _Placement:
        """Where the mouth patch lands in loop frame ``index``; computed once per frame of the
        loop (it depends on the head's pose only)."""
        key = index % self.loop_frames
        if (found := self._placements.get(key)) is not None:
            return found
        px0, py0, px1, py1 = self._mouth_patch
        rx0, ry0 = self._roi[0], self._roi[1]
        matrix = self._head_matrix(self.pose(index))
        matrix[:, 2] += matrix[:, :2] @ np.array([px0 - rx0, py0 - ry0], dtype=np.float64)
        corners = (
            np.array(
                [[0, 0, 1], [px1 - px0, 0, 1], [0, py1 - py0, 1], [px1 - px0, py1 - py0, 1]],
                dtype=np.float64,
            )
            @ matrix.T
        )
        dx0, dy0 = np.floor(corners.min(axis=0)).astype(int)
        dx1, dy1 = np.ceil(corners.max(axis=0)).astype(int) + 1
        matrix[:, 2] -= (dx0, dy0)
        size = (int(dx1 - dx0), int(dy1 - dy0))
        # Only pixels wholly inside both the patch and the head are replaced; at the patch's
        # edges and along the jaw line the idle frame already shows the same thing.
        inside = self._head_alpha[py0 - ry0 : py1 - ry0, px0 - rx0 : px1 - rx0].copy()
        inside[[0, -1], :] = 0
        inside[:, [0, -1]] = 0
        replace = cv2.warpAffine(inside, matrix, size, flags=cv2.INTER_LINEAR) > 0.999
        mask = replace.astype(np.uint8)
        placement = _Placement(matrix, (int(dx0), int(dy0)), size, mask)
        self._placements[key] = placement  # a race computes the same value twice: harmless
        return placement

    # -- the parts, drawn once ---------------------------------------------------------------

    @cached_property
    def _background(self) -> np.ndarray:
        s = self.size
        ramp = np.linspace(0.0, 1.0, s, dtype=np.float32)[:, None, None]
        top = np.array([196, 186, 168], dtype=np.float32)
        bottom = np.array([150, 138, 118], dtype=np.float32)
        image = np.broadcast_to(top + (bottom - top) * ramp, (s, s, 3)).astype(np.uint8).copy()
        # Neck and shoulders, which do not move with the head.
        neck = [
            (0.43 * s, 0.6 * s),
            (0.57 * s, 0.6 * s),
            (0.585 * s, 0.82 * s),
            (0.415 * s, 0.82 * s),
        ]
        _polygon(image, neck, _shade(_SKIN, 0.8))
        _ellipse(image, (s / 2, 1.1 * s), (0.44 * s, 0.32 * s), _SHIRT)
        _ellipse(image, (s / 2, 0.8 * s), (0.085 * s, 0.05 * s), _shade(_SKIN, 0.72), (0, 180))
        return image

    @cached_property
    def _head_alpha(self) -> np.ndarray:
        s = self.size
        x0, y0, x1, y1 = self._roi
        mask = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
        hx, hy = self.head_center[0] - x0, self.head_center[1] - y0
        ax, ay = self.head_axes
        _ellipse(mask, (hx, hy), (ax, ay), 255)
        # Hair volume above and beside the head, and the ears.
        _ellipse(mask, (hx, hy - 0.06 * s), (ax * 1.1, ay * 0.9), 255, (180, 360))
        for side in (-1, 1):
            _ellipse(
                mask,
                (hx + side * ax * 0.98, self.eye_y + 0.04 * s - y0),
                (0.03 * s, 0.055 * s),
                255,
            )
        return _soft(mask, max(0.6, s / 600))[..., 0]

    @cached_property
    def _head_layer(self) -> np.ndarray:
        s = self.size
        x0, y0, x1, y1 = self._roi
        h, w = y1 - y0, x1 - x0
        hx, hy = self.head_center[0] - x0, self.head_center[1] - y0
        ax, ay = self.head_axes
        eye_y = self.eye_y - y0
        # Skin with shading: lit from the upper left, darker towards the edges of the face.
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        nx, ny = (xx - hx) / ax, (yy - hy) / ay
        radius = np.sqrt(nx**2 + ny**2)
        light = 1.05 - 0.28 * np.clip(radius, 0, 1.3) ** 3 - 0.06 * nx - 0.04 * ny
        layer = np.clip(_SKIN[None, None, :] * light[..., None], 0, 255).astype(np.uint8)
        for side in (-1, 1):  # ears
            _ellipse(
                layer,
                (hx + side * ax * 0.98, eye_y + 0.04 * s),
                (0.03 * s, 0.055 * s),
                _shade(_SKIN, 0.85),
            )
        # Hair: a cap over the top, with a side parting fringe on the forehead.
        hair = np.zeros((h, w), dtype=np.uint8)
        _ellipse(hair, (hx, hy - 0.06 * s), (ax * 1.1, ay * 0.9), 255, (180, 360))
        forehead = np.zeros_like(hair)
        _ellipse(forehead, (hx + 0.02 * s, hy - 0.02 * s), (ax * 0.92, ay * 0.74), 255, (180, 360))
        cv2.rectangle(forehead, (0, int(hy - 0.02 * s)), (w, h), 255, -1)
        hair_weight = _soft(cv2.subtract(hair, forehead), max(0.6, s / 500))
        layer = (layer + (np.array(_HAIR, np.float32) - layer) * hair_weight).astype(np.uint8)
        # Eye sockets, shaded darker than the cheeks and the bridge of the nose.
        sockets = np.zeros((h, w), dtype=np.uint8)
        for side in (-1, 1):
            _ellipse(sockets, (hx + side * self.eye_dx, eye_y), (0.058 * s, 0.036 * s), 255)
        layer = _darken(layer, _soft(sockets, s / 90), 0.22)
        for side in (-1, 1):  # brows
            cx = hx + side * self.eye_dx
            brow = [
                (cx - side * 0.05 * s, eye_y - 0.045 * s),
                (cx, eye_y - 0.062 * s),
                (cx + side * 0.055 * s, eye_y - 0.05 * s),
            ]
            _polyline(layer, brow, _BROW, max(2, int(0.016 * s)))
        # Nose: a shaded side and two nostrils.
        nose = np.zeros((h, w), dtype=np.uint8)
        _ellipse(nose, (hx + 0.018 * s, 0.5 * s - y0), (0.012 * s, 0.05 * s), 255)
        layer = _darken(layer, _soft(nose, s / 150), 0.18)
        for side in (-1, 1):
            _ellipse(
                layer,
                (hx + side * 0.017 * s, 0.535 * s - y0),
                (0.011 * s, 0.006 * s),
                _shade(_SKIN, 0.45),
            )
        # A soft shadow under the lower lip, where the chin begins.
        chin = np.zeros((h, w), dtype=np.uint8)
        _ellipse(chin, (hx, 0.64 * s - y0), (0.045 * s, 0.012 * s), 255)
        return _darken(layer, _soft(chin, s / 200), 0.15)

    # -- the parts, drawn per frame ----------------------------------------------------------

    def _draw_eyes(self, head: np.ndarray, blink: float) -> None:
        s = self.size
        x0, y0 = self._roi[0], self._roi[1]
        lid = max(2, int(0.008 * s))
        for side in (-1, 1):
            cx = int(self.head_center[0] + side * self.eye_dx - x0)
            cy = int(self.eye_y - y0)
            ax, ay = int(0.04 * s), max(1, int(0.019 * s))
            open_ay = max(1, int(ay * (1 - blink)))
            if open_ay > 1:
                _ellipse(head, (cx, cy), (ax, open_ay), (235, 238, 240))
                # Iris, pupil and a highlight, clipped to the open eye.
                clip = np.zeros(head.shape[:2], dtype=np.uint8)
                cv2.ellipse(clip, (cx, cy), (ax, open_ay), 0, 0, 360, 255, -1)
                iris = head.copy()
                cv2.circle(iris, (cx, cy), int(0.017 * s), _IRIS, -1, cv2.LINE_AA)
                cv2.circle(iris, (cx, cy), int(0.008 * s), (10, 10, 12), -1, cv2.LINE_AA)
                glint = (cx - int(0.005 * s), cy - int(0.005 * s))
                cv2.circle(iris, glint, max(1, int(0.0035 * s)), (250, 250, 250), -1, cv2.LINE_AA)
                head[clip > 0] = iris[clip > 0]
            # The upper lid: a dark line, lowered over the eye while blinking.
            _ellipse(head, (cx, cy), (ax, open_ay), (30, 30, 40), (180, 360), thickness=lid)
            if blink >= 0.99:
                cv2.line(head, (cx - ax, cy), (cx + ax, cy), (30, 30, 40), lid, cv2.LINE_AA)

    def _draw_mouth(self, image: np.ndarray, mouth: MouthShape, origin: tuple[int, int]) -> None:
        """Draws the mouth on ``image``, whose top-left pixel is ``origin`` in a frame at rest."""
        s = self.size
        cx = self.mouth_center[0] - origin[0]
        cy = self.mouth_center[1] - origin[1]
        opening = float(np.clip(mouth.opening, 0.0, 1.0))
        width = float(np.clip(mouth.width, -1.0, 1.0))
        half_w = self.mouth_half_width * (1 + 0.22 * width - 0.1 * opening)
        gap = opening * 0.055 * s
        lip = max(2.0, 0.011 * s)
        # Outer lip contour: upper lip with a cupid's bow, lower lip rounder when open.
        lips = [
            (cx - half_w, cy),
            (cx - 0.45 * half_w, cy - lip * 1.25),
            (cx, cy - lip * 0.9),
            (cx + 0.45 * half_w, cy - lip * 1.25),
            (cx + half_w, cy),
            (cx + 0.5 * half_w, cy + gap + lip * 1.4),
            (cx, cy + gap + lip * 1.6),
            (cx - 0.5 * half_w, cy + gap + lip * 1.4),
        ]
        _polygon(image, lips, _LIP)
        if gap < 1.0:
            line = [(cx - half_w, cy), (cx, cy + lip * 0.2), (cx + half_w, cy)]
            _polyline(image, line, _LIP_DARK, max(1, int(0.005 * s)))
            return
        inner = half_w * 0.82
        _polygon(
            image,
            [
                (cx - inner, cy),
                (cx, cy - lip * 0.15),
                (cx + inner, cy),
                (cx + 0.5 * inner, cy + gap * 0.95),
                (cx, cy + gap),
                (cx - 0.5 * inner, cy + gap * 0.95),
            ],
            _MOUTH_INSIDE,
        )
        teeth_h = min(gap * 0.3, 0.012 * s)
        if teeth_h >= 1.0:
            _polygon(
                image,
                [
                    (cx - inner * 0.7, cy + 0.5),
                    (cx + inner * 0.7, cy + 0.5),
                    (cx + inner * 0.6, cy + teeth_h),
                    (cx - inner * 0.6, cy + teeth_h),
                ],
                _TEETH,
            )
