"""Preparing an avatar from a video: decode, find the face, crop, and make the idle loop.

Runs in a worker thread. It reads the video twice: once small and grey to find the face in
every frame, then at the size it keeps, cropped to head and shoulders around where the face
was. Progress goes to a callback; a set ``cancelled`` event stops it between frames.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import av
import cv2
import numpy as np

from lipsync_svc.avatar import AvatarInfo, AvatarSpec, LoadedAvatar
from lipsync_svc.engines.base import LipsyncEngine
from lipsync_svc.face_detection import HaarFaceDetector, smooth_boxes
from lipsync_svc.frames import FaceBox, fit_within
from lipsync_svc.idle_loop import LONGEST, apply_plan, loop_plan
from lipsync_svc.mouth_bank import build_mouth_bank, close_mouths
from lipsync_svc.video_source import check_cancelled, speech_share, video_frames
from svc_core.errors import InvalidArgument

# Longest side of the grey frames the detector reads.
DETECTION_SIDE = 360
# A video whose audio is this much speech may show the person's own mouth shapes.
MIN_SPEECH_SHARE = 0.2
# The face detector reads every this many frames.
DETECT_EVERY = 3
# At least this share of frames must show a face.
MIN_FACE_SHARE = 0.25
# Head-and-shoulders framing around the face boxes, in face widths / heights.
FRAME_MARGIN_SIDES = 0.9
FRAME_MARGIN_TOP = 0.6
FRAME_MARGIN_BOTTOM = 1.1


class Stage(enum.Enum):
    """Stages of avatar creation (vtutor.lipsync.v1.AvatarStage without the prefix)."""

    RECEIVING = "RECEIVING"
    DECODING = "DECODING"
    DETECTING_FACE = "DETECTING_FACE"
    PREPARING_FRAMES = "PREPARING_FRAMES"
    BUILDING_IDLE_LOOP = "BUILDING_IDLE_LOOP"
    ENGINE_CACHE = "ENGINE_CACHE"
    SAVING = "SAVING"


@dataclass(frozen=True)
class BuildProgress:
    """How far creation has come: stage, overall percent (0-100), detail."""

    stage: Stage
    percent: float
    message: str = ""


Report = Callable[[BuildProgress], None]


@dataclass
class PreparedAvatar:
    """A finished avatar before it is saved, with the engine's per-avatar data."""

    avatar: LoadedAvatar
    caches: dict[str, np.ndarray]


def _every(count: int) -> int:
    # Report about twenty times per stage, whatever the clip's length.
    return max(1, count // 20)


def _framing(boxes: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """Head-and-shoulders crop (x0, y0, x1, y1) around every face box, inside the frame."""
    face_w, face_h = float(np.median(boxes[:, 2])), float(np.median(boxes[:, 3]))
    x0 = boxes[:, 0].min() - FRAME_MARGIN_SIDES * face_w
    x1 = (boxes[:, 0] + boxes[:, 2]).max() + FRAME_MARGIN_SIDES * face_w
    y0 = boxes[:, 1].min() - FRAME_MARGIN_TOP * face_h
    y1 = (boxes[:, 1] + boxes[:, 3]).max() + FRAME_MARGIN_BOTTOM * face_h
    return (int(max(0, x0)), int(max(0, y0)), int(min(width, x1)), int(min(height, y1)))


def _blur_background(frame: np.ndarray, box: FaceBox) -> np.ndarray:
    """Blurs everything but the head and shoulders (an ellipse each, feathered)."""
    height, width = frame.shape[:2]
    mask = np.zeros((height, width), dtype=np.uint8)
    cx, cy = box.center
    cv2.ellipse(
        mask,
        (int(cx), int(cy + 0.05 * box.h)),
        (int(0.75 * box.w), int(1.0 * box.h)),
        0,
        0,
        360,
        255,
        -1,
    )
    cv2.ellipse(
        mask,
        (int(cx), int(box.y + 2.3 * box.h)),
        (int(1.45 * box.w), int(1.1 * box.h)),
        0,
        0,
        360,
        255,
        -1,
    )
    soft = cv2.GaussianBlur(mask, (0, 0), 0.1 * box.w).astype(np.float32)[..., None] / 255
    blurred = cv2.GaussianBlur(frame, (0, 0), 3 + 0.015 * max(width, height))
    return (blurred + (frame.astype(np.float32) - blurred) * soft).astype(np.uint8)


def prepare_avatar(
    video: Path,
    spec: AvatarSpec,
    *,
    idle_fps: int,
    engine: type[LipsyncEngine],
    report: Report,
    cancelled: threading.Event,
) -> PreparedAvatar:
    """Makes an avatar from the video at ``video`` (blocking).

    Raises:
        InvalidArgument: Not a video, or no face in it.
        BuildCancelled: ``cancelled`` was set.
    """
    options = spec.options
    loop_length = round(options.idle_loop_seconds * idle_fps)
    # A little more than the loop, so it can be cut where the clip comes back to itself.
    wanted = round(LONGEST * loop_length) + 1

    # Pass 1: small grey frames for the detector.
    report(BuildProgress(Stage.DECODING, 5, "reading the video"))
    source_size: list[tuple[int, int]] = []

    def grey(frame: av.VideoFrame) -> np.ndarray:
        if not source_size:
            source_size.append((frame.width, frame.height))
        w, h = fit_within(frame.width, frame.height, DETECTION_SIDE)
        return frame.to_ndarray(format="gray", width=w, height=h)

    greys = []
    for index, image in enumerate(
        video_frames(
            video,
            fps=idle_fps,
            max_frames=wanted,
            convert=grey,
            cancelled=cancelled,
            declared_format=spec.video_format,
        )
    ):
        greys.append(image)
        if index % _every(wanted) == 0:
            report(
                BuildProgress(
                    Stage.DECODING, 5 + 20 * index / wanted, f"frame {index + 1} of up to {wanted}"
                )
            )
    if not greys:
        raise InvalidArgument("the video has no frames")
    src_w, src_h = source_size[0]
    detect_scale = src_w / greys[0].shape[1]

    # Faces, in source pixels.
    # A head moves slowly: the detector reads every DETECT_EVERY-th frame (the slowest step of
    # creation) and the frames between take boxes interpolated from those around them.
    detector = HaarFaceDetector()
    found: list[FaceBox | None] = []
    tried = with_face = 0
    for index, image in enumerate(greys):
        check_cancelled(cancelled)
        if index % DETECT_EVERY and index != len(greys) - 1:
            found.append(None)
            continue
        box = detector.detect(image)
        tried += 1
        with_face += box is not None
        found.append(
            None
            if box is None
            else FaceBox(
                box.x * detect_scale,
                box.y * detect_scale,
                box.w * detect_scale,
                box.h * detect_scale,
            )
        )
        if index % _every(len(greys)) < DETECT_EVERY:
            report(
                BuildProgress(
                    Stage.DETECTING_FACE,
                    25 + 30 * index / len(greys),
                    f"frame {index + 1} of {len(greys)}",
                )
            )
    if with_face == 0:
        raise InvalidArgument(
            "no face found in the video: use a video of one person facing the camera, "
            "with the whole face visible and well lit"
        )
    if with_face < MIN_FACE_SHARE * tried:
        raise InvalidArgument(
            f"a face was found in only {with_face} of {tried} frames looked at: use a video "
            "where the face is visible and facing the camera throughout"
        )
    boxes = smooth_boxes(found)

    # Pass 2: the frames kept, cropped to head and shoulders and scaled to fit max_size.
    x0, y0, x1, y1 = _framing(boxes, src_w, src_h)
    out_w, out_h = fit_within(x1 - x0, y1 - y0, options.max_size)
    scale = out_w / (x1 - x0)
    decode_w, decode_h = max(2, round(src_w * scale)), max(2, round(src_h * scale))
    crop = (round(x0 * scale), round(y0 * scale), round(x1 * scale), round(y1 * scale))

    def framed(frame: av.VideoFrame) -> np.ndarray:
        image = frame.to_ndarray(format="bgr24", width=decode_w, height=decode_h)
        region: np.ndarray = image[crop[1] : crop[3], crop[0] : crop[2]]
        if region.shape[:2] != (out_h, out_w):
            region = cv2.resize(region, (out_w, out_h), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(region)

    boxes[:, 0] = (boxes[:, 0] - x0) * out_w / (x1 - x0)
    boxes[:, 1] = (boxes[:, 1] - y0) * out_h / (y1 - y0)
    boxes[:, 2] *= out_w / (x1 - x0)
    boxes[:, 3] *= out_h / (y1 - y0)
    frames = []
    for index, image in enumerate(
        video_frames(
            video, fps=idle_fps, max_frames=len(greys), convert=framed, cancelled=cancelled
        )
    ):
        frames.append(
            _blur_background(image, FaceBox.from_array(boxes[index]))
            if options.blur_background
            else image
        )
        if index % _every(len(greys)) == 0:
            report(
                BuildProgress(
                    Stage.PREPARING_FRAMES,
                    55 + 20 * index / len(greys),
                    f"frame {index + 1} of {len(greys)}",
                )
            )
    count = min(len(frames), len(boxes))
    clip, clip_boxes = np.stack(frames[:count]), boxes[:count]

    report(BuildProgress(Stage.BUILDING_IDLE_LOOP, 75, f"looping {count} frames"))
    check_cancelled(cancelled)
    loop_frames, loop_boxes = apply_plan(loop_plan(greys[:count], loop_length), clip, clip_boxes)

    # A video of the person speaking: keep their own mouths (mouth_bank), and shut the mouth
    # of the loop, which is shown while the tutor listens.
    bank_caches: dict[str, np.ndarray] = {}
    if speech_share(video) >= MIN_SPEECH_SHARE:
        report(BuildProgress(Stage.BUILDING_IDLE_LOOP, 78, "keeping the speaker's own mouths"))
        bank = build_mouth_bank(loop_frames, loop_boxes)
        if bank is not None:
            loop_frames = close_mouths(loop_frames, loop_boxes, bank)
            bank_caches = bank.caches()

    report(BuildProgress(Stage.ENGINE_CACHE, 82, f"preparing for {engine.name}"))
    check_cancelled(cancelled)
    loop_frames.flags.writeable = False
    avatar = LoadedAvatar(
        info=AvatarInfo(
            avatar_id=spec.avatar_id,
            display_name=spec.display_name or spec.avatar_id,
            engine=engine.name,
            width=out_w,
            height=out_h,
            idle_frame_count=len(loop_frames),
            idle_fps=idle_fps,
            builtin=False,
            create_time=datetime.now(UTC),
        ),
        frames=loop_frames,
        boxes=loop_boxes,
        face_padding=options.face_padding,
    )
    return PreparedAvatar(avatar, {**bank_caches, **engine.build_avatar_cache(avatar)})
