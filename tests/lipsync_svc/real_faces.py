"""Real face photographs that installed packages ship, with features marked by hand, and test
videos made from them by moving the picture a little (a head that sways while it listens).

The boxes below were read off the pictures by eye (pixel coordinates of the original image,
x0, y0, x1, y1); the code under test never sees them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Portrait:
    """A photograph and its hand-marked features."""

    name: str
    lips: Box
    nose: Box
    eyes: tuple[Box, Box]

    def image(self) -> np.ndarray:
        """The photograph, BGR."""
        if self.name == "grace_hopper":
            import matplotlib

            path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
            image = cv2.imread(str(path))
            assert image is not None
            return image
        data = pytest.importorskip("skimage.data")
        return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


PORTRAITS = {
    # Grace Hopper (matplotlib sample data): closed mouth, thin upper lip, wrinkles around it.
    "grace_hopper": Portrait(
        "grace_hopper",
        lips=(228, 265, 302, 295),
        nose=(245, 215, 295, 255),
        eyes=((190, 183, 235, 207), (288, 181, 327, 205)),
    ),
    # Eileen Collins (scikit-image's astronaut.png): a smile showing the upper teeth.
    "astronaut": Portrait(
        "astronaut",
        lips=(201, 136, 245, 155),
        nose=(212, 108, 236, 130),
        eyes=((193, 96, 214, 107), (235, 96, 257, 107)),
    ),
}


def sway(index: int, fps: int = 25, amplitude: float = 3.0) -> np.ndarray:
    """The 2x3 affine motion of frame ``index``: a slow sway, a slight turn and breathing scale."""
    t = index / fps
    dx = amplitude * np.sin(2 * np.pi * t / 2.0)
    dy = 0.5 * amplitude * np.sin(2 * np.pi * t / 2.0 + 1.0)
    angle = 0.8 * np.sin(2 * np.pi * t / 2.0 + 2.0)
    scale = 1 + 0.01 * np.sin(2 * np.pi * t / 1.0)
    return np.array(
        [
            [scale * np.cos(np.radians(angle)), -scale * np.sin(np.radians(angle)), dx],
            [scale * np.sin(np.radians(angle)), scale * np.cos(np.radians(angle)), dy],
        ]
    )


def moved(image: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """``image`` moved by ``motion`` about its centre."""
    h, w = image.shape[:2]
    centre = np.array([w / 2, h / 2])
    matrix = motion.copy()
    matrix[:, 2] += centre - motion[:, :2] @ centre
    return cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)


def moved_box(box: Box, motion: np.ndarray, size: tuple[int, int]) -> Box:
    """The bounding box of ``box`` moved as ``moved`` moves the picture of (width, height)."""
    w, h = size
    centre = np.array([w / 2, h / 2])
    corners = np.array([[box[0], box[1]], [box[2], box[1]], [box[0], box[3]], [box[2], box[3]]])
    out = (corners - centre) @ motion[:, :2].T + motion[:, 2] + centre
    return (out[:, 0].min(), out[:, 1].min(), out[:, 0].max(), out[:, 1].max())


def swaying_video(image: np.ndarray, *, frames: int, fps: int = 25) -> bytes:
    """An mp4 of ``image`` swaying (period 2 s), as a portrait video of a listening person."""
    out = io.BytesIO()
    container = av.open(out, "w", format="mp4")
    stream = container.add_stream("libx264", rate=fps)
    stream.height, stream.width = (image.shape[0] // 2 * 2, image.shape[1] // 2 * 2)
    stream.pix_fmt = "yuv420p"
    stream.options = {"crf": "18"}
    for index in range(frames):
        frame = moved(image, sway(index, fps))[: stream.height, : stream.width]
        for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return out.getvalue()


def overlap(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
