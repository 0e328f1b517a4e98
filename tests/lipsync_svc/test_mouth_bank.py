"""The mouth bank: the person's own mouths, indexed by opening, picked to match each shape."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest
from vtutor.common.v1 import media_pb2
from vtutor.lipsync.v1 import lipsync_pb2, lipsync_pb2_grpc

from lipsync_svc.avatar import AvatarInfo, LoadedAvatar
from lipsync_svc.config import LipsyncSettings
from lipsync_svc.drawn_face import DrawnFace
from lipsync_svc.face_detection import HaarFaceDetector
from lipsync_svc.mouth import MouthShape
from lipsync_svc.mouth_bank import build_mouth_bank, mouth_opening, render_from_bank
from lipsync_svc.mouth_locator import locate_mouth, track_mouth
from lipsync_svc.mouth_warp import mouth_geometry, warp_mouth
from tests.lipsync_svc.conftest import (
    animate,
    animate_requests,
    create,
    create_requests,
    face_video,
    rgb_frames,
    speech_like,
)
from tests.lipsync_svc.real_faces import PORTRAITS


def _talking(openings: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Frames of the drawn face with the given mouth openings (its true states), and boxes."""
    face = DrawnFace(256, 100)
    frames = np.stack([face.render(i, MouthShape(o, 0.0)) for i, o in enumerate(openings)])
    boxes = np.stack([face.face_box(i).as_array() for i in range(len(openings))])
    return frames, boxes


@pytest.mark.unit
def test_the_bank_picks_the_mouth_whose_opening_matches() -> None:
    rng = np.random.default_rng(5)
    truth = [float(v) for v in rng.uniform(0, 0.9, 60)]
    frames, boxes = _talking(truth)
    bank = build_mouth_bank(frames, boxes)
    assert bank is not None
    assert len(bank.openings) >= 6
    assert np.all(np.diff(bank.openings) >= 0)
    # The source frames' true openings rise with the bank's measured openings.
    true_of_entries = np.array([truth[i] for i in bank.sources])
    assert np.all(np.diff(true_of_entries) > -0.05), true_of_entries
    # Asked for closed, wide open and in between, it picks frames in that state.
    closed, _, _ = bank.pick(0.0)
    widest, _, _ = bank.pick(1.0)
    middle, upper, weight = bank.pick(0.5)
    assert truth[bank.sources[closed]] < 0.1
    assert truth[bank.sources[widest]] > 0.75
    mid_truth = (1 - weight) * truth[bank.sources[middle]] + weight * truth[bank.sources[upper]]
    assert 0.25 < mid_truth < 0.65


@pytest.mark.unit
def test_a_still_mouth_makes_no_bank() -> None:
    frames, boxes = _talking([0.0] * 30)
    assert build_mouth_bank(frames, boxes) is None


@pytest.mark.unit
def test_a_mouth_from_the_bank_lands_on_the_idle_frames_mouth() -> None:
    # The drawn face's own open mouth, from another frame, placed on a closed-mouth idle frame,
    # looks like the face drawn with that mouth: the patch is aligned and scaled to the mouth.
    truth = [abs(float(np.sin(i / 4))) * 0.9 for i in range(60)]
    frames, boxes = _talking(truth)
    bank = build_mouth_bank(frames, boxes)
    assert bank is not None
    face = DrawnFace(256, 100)
    idle = np.stack([face.render(i) for i in range(3)])
    geometry = track_mouth(idle, boxes[:3], looped=False)[1]
    left, right, top, _, lip_y = (float(v) for v in geometry)
    row = np.array([(left + right) / 2, lip_y, (right - left) / 2, top], np.float32)
    rendered = render_from_bank(idle[1], row, float(boxes[1][2]), MouthShape(1.0, 0.0), bank)
    expected = face.render(1, MouthShape(truth[bank.sources[-1]], 0.0))
    mouth = (slice(int(lip_y) - 12, int(lip_y) + 20), slice(int(left) - 4, int(right) + 4))
    error_bank = np.abs(rendered[mouth].astype(float) - expected[mouth]).mean()
    error_closed = np.abs(idle[1][mouth].astype(float) - expected[mouth]).mean()
    assert error_bank < 0.4 * error_closed, (error_bank, error_closed)
    # Away from the mouth nothing changes.
    assert np.array_equal(rendered[:100], idle[1][:100])


@pytest.mark.integration
@pytest.mark.parametrize("speech", [True, False])
async def test_a_video_of_the_person_speaking_keeps_their_own_mouths(
    speech: bool, stub: lipsync_pb2_grpc.LipsyncServiceStub, settings: LipsyncSettings
) -> None:
    video = face_video("mp4", frames=75, size=256, speech=speech)
    await create(
        stub,
        create_requests("talker", video, options=lipsync_pb2.AvatarOptions(idle_loop_seconds=2)),
    )
    bank_file = settings.avatars_dir / "talker" / "cache" / "mouth_bank_patches.npy"
    # Only a video with speech in its audio gets a bank; a silent one is warped instead.
    assert bank_file.is_file() == speech
    # The idle loop (shown while the tutor listens) of a speaker keeps its mouth shut.
    request = lipsync_pb2.StreamIdleFramesRequest(
        avatar_id="talker", pixel_format=media_pb2.PIXEL_FORMAT_RGB24, unpaced=True, max_frames=50
    )
    openings = []
    async for response in stub.StreamIdleFrames(request):
        frame = response.frame
        image = np.frombuffer(frame.data, np.uint8).reshape(frame.height, frame.width, 3)
        bgr = np.ascontiguousarray(image[..., ::-1])
        face = HaarFaceDetector().detect(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
        mouth = locate_mouth(bgr, face) if face is not None else None
        if mouth is not None:
            openings.append(mouth_opening(bgr, mouth))
    assert len(openings) > 25
    if speech:
        assert max(openings) < 0.2, openings
    else:
        assert max(openings) > 0.3, openings  # the video's own talking mouth, as it was
    config = lipsync_pb2.AnimateConfig(
        avatar_id="talker", pixel_format=media_pb2.PIXEL_FORMAT_RGB24
    )
    frames = rgb_frames(await animate(stub, animate_requests(speech_like(1.0), config=config)))
    assert len(frames) == 25
    changes = [float(np.abs(b.astype(float) - a).mean()) for a, b in itertools.pairwise(frames)]
    assert max(changes) > 0.3  # the mouth moves


@pytest.mark.unit
@pytest.mark.parametrize("name", list(PORTRAITS))
def test_the_bank_orders_a_real_faces_mouths_by_opening(name: str) -> None:
    # A real photograph made to talk with known mouth states (the warp opens its own mouth to
    # each state): the bank's entries, closed to open, come from frames in that order.
    photo = PORTRAITS[name].image()
    face = HaarFaceDetector().detect(cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY))
    assert face is not None
    info = AvatarInfo(
        name, name, "procedural", photo.shape[1], photo.shape[0], 1, 25, False, datetime.now(UTC)
    )
    single = LoadedAvatar(info=info, frames=photo[None], boxes=face.as_array()[None])
    geometry = mouth_geometry(single)[0]
    truth = np.random.default_rng(2).uniform(0, 1, 40)
    frames = np.stack([warp_mouth(photo, geometry, MouthShape(float(o), 0.0)) for o in truth])
    bank = build_mouth_bank(frames, np.stack([face.as_array()] * len(frames)))
    assert bank is not None
    states = truth[bank.sources]
    assert np.all(np.diff(states) > -0.1), states
    assert states[-1] - states[0] > 0.4, states
