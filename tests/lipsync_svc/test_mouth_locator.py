"""The mouth locator on real photographs: the lips it finds against lips marked by hand."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lipsync_svc.face_detection import HaarFaceDetector
from lipsync_svc.mouth_locator import NoMouthFound, locate_mouth, track_mouth
from tests.lipsync_svc.real_faces import PORTRAITS, Portrait, moved, moved_box, overlap, sway

pytestmark = pytest.mark.unit


def _frame(portrait: Portrait, index: int, scale: float) -> tuple[np.ndarray, tuple, tuple]:
    """Frame ``index`` of the swaying portrait at ``scale``, with its true lips and nose boxes."""
    image = portrait.image()
    motion = sway(index)
    frame = cv2.resize(moved(image, motion), None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    size = (image.shape[1], image.shape[0])
    lips = tuple(v * scale for v in moved_box(portrait.lips, motion, size))
    nose = tuple(v * scale for v in moved_box(portrait.nose, motion, size))
    return frame, lips, nose


@pytest.mark.parametrize("name", list(PORTRAITS))
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_the_lips_are_found_on_a_real_face(name: str, scale: float) -> None:
    detector = HaarFaceDetector()
    overlaps = []
    for index in range(0, 50, 7):
        frame, lips, nose = _frame(PORTRAITS[name], index, scale)
        face = detector.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
        assert face is not None
        mouth = locate_mouth(frame, face)
        assert mouth is not None, f"frame {index}: no mouth"
        # The lip line and the mouth's centre lie on the true lips, not on the nostrils.
        assert lips[1] < mouth.lip_y < lips[3], (index, mouth, lips)
        assert lips[0] < mouth.center_x < lips[2], (index, mouth, lips)
        assert mouth.top > nose[3] - 2 * scale, (index, mouth, nose)
        # Its corners lie near the true ones.
        assert abs(mouth.left - lips[0]) < 0.25 * (lips[2] - lips[0])
        assert abs(mouth.right - lips[2]) < 0.25 * (lips[2] - lips[0])
        overlaps.append(overlap((mouth.left, mouth.top, mouth.right, mouth.bottom), lips))
    assert min(overlaps) > 0.3 and float(np.mean(overlaps)) > 0.5, overlaps


@pytest.mark.parametrize("name", list(PORTRAITS))
def test_a_face_without_visible_lips_has_no_mouth(name: str) -> None:
    portrait = PORTRAITS[name]
    image = portrait.image()
    # Paint the lips over with the skin around them.
    mask = np.zeros(image.shape[:2], np.uint8)
    x0, y0, x1, y1 = (int(v) for v in portrait.lips)
    cv2.rectangle(mask, (x0 - 3, y0 - 3), (x1 + 3, y1 + 3), 255, -1)
    no_lips = cv2.inpaint(image, mask, 7, cv2.INPAINT_TELEA)
    face = HaarFaceDetector().detect(cv2.cvtColor(no_lips, cv2.COLOR_BGR2GRAY))
    assert face is not None
    assert locate_mouth(no_lips, face) is None
    frames = np.stack([no_lips] * 4)
    with pytest.raises(NoMouthFound, match="no mouth found"):
        track_mouth(frames, np.stack([face.as_array()] * 4))


def test_the_mouth_is_tracked_steadily_through_a_video() -> None:
    portrait = PORTRAITS["grace_hopper"]
    detector = HaarFaceDetector()
    frames, boxes, truth = [], [], []
    for index in range(24):
        frame, lips, _ = _frame(portrait, index, 0.5)
        face = detector.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
        assert face is not None
        frames.append(frame)
        boxes.append(face.as_array())
        truth.append(lips)
    track = track_mouth(np.stack(frames), np.stack(boxes), looped=False)
    assert track.shape == (24, 5)
    true_centre = np.array([(b[1] + b[3]) / 2 for b in truth])
    lip_y = track[:, 4]
    assert all(b[1] < y < b[3] for b, y in zip(truth, lip_y, strict=True))
    # The lip line follows the head: its offset from the true lips' centre barely wavers.
    assert float(np.std(lip_y - true_centre)) < 1.0
