"""Finding the face in each frame with OpenCV's Haar cascade, and smoothing the boxes over time."""

from __future__ import annotations

import cv2
import numpy as np

from lipsync_svc.frames import FaceBox

CASCADE = "haarcascade_frontalface_default.xml"


class HaarFaceDetector:
    """The most certain frontal face in a grey image, or None.

    Of several candidates the one the cascade found at the most neighbouring positions and
    scales wins (a real face gathers dozens; a false one, such as a round helmet ring, a few),
    the larger on a tie. One instance per thread: OpenCV's cascade classifier is not safe to
    share across threads.
    """

    def __init__(self) -> None:
        self._cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE)  # type: ignore[attr-defined]
        if self._cascade.empty():
            raise RuntimeError(
                f"OpenCV has no {CASCADE}: install opencv-python-headless<5 (the lipsync extra)"
            )

    def detect(self, gray: np.ndarray) -> FaceBox | None:
        """The most certain face in ``gray`` (uint8, H x W), in its pixel coordinates."""
        smallest = max(24, min(gray.shape) // 8)
        faces, neighbours = self._cascade.detectMultiScale2(
            cv2.equalizeHist(gray),
            scaleFactor=1.1,
            minNeighbors=5,
            minSize=(smallest, smallest),
        )
        if len(faces) == 0:
            return None
        best = max(
            range(len(faces)),
            key=lambda i: (int(neighbours[i]), int(faces[i][2]) * int(faces[i][3])),
        )
        x, y, w, h = faces[best]
        return FaceBox(float(x), float(y), float(w), float(h))


def _moving_average(values: np.ndarray, window: int) -> np.ndarray:
    if len(values) < 2 or window < 2:
        return values
    pad = window // 2
    padded = np.pad(values, ((pad, pad), (0, 0)), mode="edge")
    kernel = np.ones(window) / window
    return np.stack(
        [
            np.convolve(padded[:, c], kernel, mode="valid")[: len(values)]
            for c in range(values.shape[1])
        ],
        axis=1,
    )


def smooth_boxes(boxes: list[FaceBox | None], window: int = 5) -> np.ndarray:
    """Boxes for every frame, (N, 4) float32 [x, y, w, h]: gaps filled, jitter smoothed.

    Frames without a detection take boxes interpolated from their neighbours (held at the
    ends); then a running median drops single-frame outliers and a running mean steadies the
    rest, on centre and size rather than corners so the box does not breathe.

    Raises:
        ValueError: No frame has a box.
    """
    known = [i for i, box in enumerate(boxes) if box is not None]
    if not known:
        raise ValueError("no boxes")
    values = np.array([[b.x + b.w / 2, b.y + b.h / 2, b.w, b.h] for b in boxes if b is not None])
    index = np.arange(len(boxes))
    filled = np.stack([np.interp(index, known, values[:, c]) for c in range(4)], axis=1)
    if len(filled) >= window:
        pad = window // 2
        padded = np.pad(filled, ((pad, pad), (0, 0)), mode="edge")
        windows = np.lib.stride_tricks.sliding_window_view(padded, window, axis=0)
        filled = np.median(windows, axis=2)
    filled = _moving_average(filled, window)
    cx, cy, w, h = filled.T
    return np.stack([cx - w / 2, cy - h / 2, w, h], axis=1).astype(np.float32)
