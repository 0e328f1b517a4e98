"""Avatars made from videos of real faces: the real mouth moves, nothing else does, and the idle
loop has no seam. Pictures of the results go to test-artifacts/lipsync/ for a person to look at.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import grpc
import numpy as np
import pytest
from vtutor.common.v1 import media_pb2
from vtutor.lipsync.v1 import lipsync_pb2, lipsync_pb2_grpc

from lipsync_svc.config import LipsyncSettings
from lipsync_svc.server import LipsyncServicer
from tests.lipsync_svc.conftest import (
    animate,
    animate_requests,
    create,
    create_requests,
    rgb_frames,
    speech_like,
)
from tests.lipsync_svc.real_faces import PORTRAITS, Box, Portrait, swaying_video

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "lipsync"


async def _idle_loop(
    stub: lipsync_pb2_grpc.LipsyncServiceStub, avatar: lipsync_pb2.Avatar
) -> list[np.ndarray]:
    request = lipsync_pb2.StreamIdleFramesRequest(
        avatar_id=avatar.avatar_id,
        pixel_format=media_pb2.PIXEL_FORMAT_RGB24,
        max_frames=avatar.idle_frame_count,
        unpaced=True,
    )
    frames = []
    async for response in stub.StreamIdleFrames(request):
        frame = response.frame
        frames.append(np.frombuffer(frame.data, np.uint8).reshape(frame.height, frame.width, 3))
    return frames


def _grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)


def _offset(portrait: Portrait, photo_grey: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """Where the photo's pixels lie in ``frame``: found by matching the eyes and nose."""
    (ex0, ey0, _, _), (_, _, ex1, _) = portrait.eyes
    x0, y0, x1, y1 = int(ex0) - 5, int(ey0) - 5, int(ex1) + 5, int(portrait.nose[3])
    patch = photo_grey[y0:y1, x0:x1]
    scores = cv2.matchTemplate(_grey(frame), patch, cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(scores)
    assert best > 0.8, "the avatar's frame does not show the photo unscaled"
    return np.array([bx - x0, by - y0], np.float32)


def _shifted(box: Box, offset: np.ndarray) -> tuple[int, int, int, int]:
    return (
        round(box[0] + offset[0]),
        round(box[1] + offset[1]),
        round(box[2] + offset[0]),
        round(box[3] + offset[1]),
    )


def _change(frames: list[np.ndarray], boxes: list[tuple[int, int, int, int]]) -> float:
    """Mean absolute grey change from frame to frame inside each frame's box."""
    total = []
    for previous, current, (x0, y0, x1, y1) in zip(frames, frames[1:], boxes[1:], strict=False):
        total.append(
            float(np.abs(_grey(current)[y0:y1, x0:x1] - _grey(previous)[y0:y1, x0:x1]).mean())
        )
    return float(np.mean(total))


@pytest.mark.parametrize("name", list(PORTRAITS))
async def test_a_real_face_talks_with_its_own_mouth_and_loops_without_a_seam(
    name: str, stub: lipsync_pb2_grpc.LipsyncServiceStub
) -> None:
    portrait = PORTRAITS[name]
    photo = portrait.image()
    avatar_id = name.replace("_", "-")
    video = swaying_video(photo, frames=75)
    # max_size above the photo's size: the avatar's frames show the photo unscaled, so the
    # hand-marked boxes carry over by a shift alone.
    responses = await create(
        stub,
        create_requests(
            avatar_id,
            video,
            options=lipsync_pb2.AvatarOptions(idle_loop_seconds=2.0, max_size=1920),
        ),
    )
    avatar = responses[-1].avatar
    idle = await _idle_loop(stub, avatar)
    assert len(idle) == avatar.idle_frame_count

    # The loop's seam (last frame to first) is no bigger a step than the others.
    steps = [
        float(np.abs(_grey(idle[(k + 1) % len(idle)]) - _grey(idle[k])).mean())
        for k in range(len(idle))
    ]
    assert steps[-1] <= 3 * float(np.median(steps)), steps

    photo_grey = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY).astype(np.float32)
    offsets = [_offset(portrait, photo_grey, frame) for frame in idle]

    start = len(idle) // 3
    config = lipsync_pb2.AnimateConfig(
        avatar_id=avatar_id,
        audio_format=media_pb2.AudioFormat(sample_rate_hz=16000),
        pixel_format=media_pb2.PIXEL_FORMAT_RGB24,
        start_idle_index=start,
    )
    talking = await animate(stub, animate_requests(speech_like(2.0), config=config))
    frames = rgb_frames(talking)
    idle_indices = [response.idle_index for response in talking]
    assert idle_indices[0] == start  # the turn continues from the idle frame on screen

    def boxes(box: Box) -> list[tuple[int, int, int, int]]:
        return [_shifted(box, offsets[i]) for i in idle_indices]

    under = [idle[i] for i in idle_indices]  # what the head alone would have shown

    def added(box: Box) -> float:
        # Temporal change beyond the head's own motion in the idle loop.
        return _change(frames, boxes(box)) - _change(under, boxes(box))

    lips, nose = _change(frames, boxes(portrait.lips)), _change(frames, boxes(portrait.nose))
    # The pixels that change while speaking are the lips': three times the change on the nose,
    # which moves only with the head ...
    assert lips >= 3 * nose, (lips, nose)
    # ... and what speaking adds to the head's motion sits on the lips, not the nose or eyes.
    speech = added(portrait.lips)
    assert speech > 2.0, speech
    for box in (portrait.nose, *portrait.eyes):
        assert speech >= 3 * abs(added(box)), (speech, added(box))

    # Above the mouth nothing is touched: each frame's top half is its idle frame's.
    for frame, index in zip(frames, idle_indices, strict=True):
        top = round(portrait.nose[1] + offsets[index][1])
        assert np.array_equal(frame[:top], idle[index][:top])

    # For a person to look at: the idle frame and the most open mouth, around the mouth.
    openness = [
        float(np.abs(_grey(f) - _grey(idle[i])).sum())
        for f, i in zip(frames, idle_indices, strict=True)
    ]
    widest = int(np.argmax(openness))
    x0, y0, x1, y1 = _shifted(portrait.lips, offsets[idle_indices[widest]])
    pad = x1 - x0
    crop = (slice(max(0, y0 - pad), y1 + pad), slice(max(0, x0 - pad), x1 + pad))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    before = cv2.cvtColor(idle[idle_indices[widest]][crop], cv2.COLOR_RGB2BGR)
    after = cv2.cvtColor(frames[widest][crop], cv2.COLOR_RGB2BGR)
    pair = np.hstack([before, after])
    zoom = max(1, 400 // pair.shape[1])
    pair = cv2.resize(pair, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(ARTIFACTS / f"{name}-mouth-before-after.png"), pair)


async def test_a_video_whose_face_shows_no_lips_is_refused(
    stub: lipsync_pb2_grpc.LipsyncServiceStub,
) -> None:
    portrait = PORTRAITS["grace_hopper"]
    photo = portrait.image()
    mask = np.zeros(photo.shape[:2], np.uint8)
    x0, y0, x1, y1 = (int(v) for v in portrait.lips)
    cv2.rectangle(mask, (x0 - 3, y0 - 3), (x1 + 3, y1 + 3), 255, -1)
    video = swaying_video(cv2.inpaint(photo, mask, 7, cv2.INPAINT_TELEA), frames=30)
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await create(
            stub,
            create_requests(
                "no-lips", video, options=lipsync_pb2.AvatarOptions(idle_loop_seconds=1.0)
            ),
        )
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "no mouth found" in (error.value.details() or "")


async def test_an_older_avatar_without_visible_lips_is_refused_clearly(
    service: LipsyncServicer,
    stub: lipsync_pb2_grpc.LipsyncServiceStub,
    settings: LipsyncSettings,
) -> None:
    # An avatar stored before lips were looked for has no mouth geometry; it is built on first
    # use, and a face with no lips gets FAILED_PRECONDITION with what to do, not an error.
    portrait = PORTRAITS["grace_hopper"]
    photo = portrait.image()
    await create(
        stub,
        create_requests(
            "older",
            swaying_video(photo, frames=30),
            options=lipsync_pb2.AvatarOptions(idle_loop_seconds=1.0),
        ),
    )
    folder = settings.avatars_dir / "older"
    mask = np.zeros(photo.shape[:2], np.uint8)
    x0, y0, x1, y1 = (int(v) for v in portrait.lips)
    cv2.rectangle(mask, (x0 - 3, y0 - 3), (x1 + 3, y1 + 3), 255, -1)
    no_lips = cv2.inpaint(photo, mask, 7, cv2.INPAINT_TELEA)
    for path in sorted((folder / "idle").glob("*.jpg")):
        height, width = cv2.imread(str(path)).shape[:2]
        cv2.imwrite(str(path), cv2.resize(no_lips, (width, height)))
    for path in (folder / "cache").glob("procedural_mouth*.npy"):
        path.unlink()
    service.store._loaded.clear()
    config = lipsync_pb2.AnimateConfig(avatar_id="older")
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await animate(stub, animate_requests(speech_like(0.2), config=config))
    assert failure.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "create it again" in (failure.value.details() or "")
