"""Avatars: creation from videos the tests make, listing, preview, idle loop, deletion, errors."""

from __future__ import annotations

import asyncio

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
    avatar_files,
    create,
    create_requests,
    face_video,
    speech_like,
)

pytestmark = pytest.mark.integration

STAGE = lipsync_pb2.AvatarStage


async def _wait_clean(service: LipsyncServicer, settings: LipsyncSettings) -> None:
    await service.creator.wait_idle()
    assert avatar_files(settings) == []


@pytest.mark.parametrize("fmt", ["mp4", "webm", "mov"])
async def test_an_avatar_is_made_from_a_video_of_a_talking_face(
    fmt: str, stub: lipsync_pb2_grpc.LipsyncServiceStub, settings: LipsyncSettings
) -> None:
    video = face_video(fmt, frames=60, size=256)
    responses = await create(
        stub,
        create_requests(
            "tutor-1",
            video,
            display_name="Ms Tutor",
            options=lipsync_pb2.AvatarOptions(idle_loop_seconds=2.0),
        ),
    )

    progress = [r.progress for r in responses[:-1]]
    assert all(r.HasField("progress") for r in responses[:-1])
    stages = [p.stage for p in progress]
    assert stages == sorted(stages)  # stages only move forward
    assert {
        STAGE.AVATAR_STAGE_RECEIVING,
        STAGE.AVATAR_STAGE_DECODING,
        STAGE.AVATAR_STAGE_DETECTING_FACE,
        STAGE.AVATAR_STAGE_PREPARING_FRAMES,
        STAGE.AVATAR_STAGE_BUILDING_IDLE_LOOP,
        STAGE.AVATAR_STAGE_ENGINE_CACHE,
        STAGE.AVATAR_STAGE_SAVING,
    } <= set(stages)
    percents = [p.percent for p in progress]
    assert percents == sorted(percents) and percents[-1] == 100

    avatar = responses[-1].avatar
    assert avatar.avatar_id == "tutor-1" and avatar.display_name == "Ms Tutor"
    assert avatar.engine == "procedural" and not avatar.builtin
    # 2 s at 25 fps: cut where the clip comes back to itself (within a quarter of the length
    # asked for) or played forwards and back.
    assert 38 <= avatar.idle_frame_count <= 62 and avatar.idle_fps == 25
    assert avatar.width % 2 == 0 and avatar.height % 2 == 0 and avatar.width <= 256
    assert avatar.size_bytes > 0

    got = (await stub.GetAvatar(lipsync_pb2.GetAvatarRequest(avatar_id="tutor-1"))).avatar
    assert got == avatar
    listed = (await stub.ListAvatars(lipsync_pb2.ListAvatarsRequest())).avatars
    assert [a.avatar_id for a in listed] == ["default", "tutor-1"]

    preview = await stub.GetAvatarPreview(lipsync_pb2.GetAvatarPreviewRequest(avatar_id="tutor-1"))
    image = cv2.imdecode(np.frombuffer(preview.image, np.uint8), cv2.IMREAD_COLOR)
    assert preview.mime_type == "image/jpeg"
    assert image.shape == (avatar.height, avatar.width, 3) == (preview.height, preview.width, 3)
    # The face is in the picture: the cascade finds it in the preview.
    detector = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")  # type: ignore[attr-defined]
    assert len(detector.detectMultiScale(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), 1.1, 5)) == 1

    idle = [
        r
        async for r in stub.StreamIdleFrames(
            lipsync_pb2.StreamIdleFramesRequest(
                avatar_id="tutor-1",
                max_frames=120,
                unpaced=True,
                pixel_format=media_pb2.PIXEL_FORMAT_RGB24,
            )
        )
    ]
    pictures = [
        np.frombuffer(r.frame.data, np.uint8).reshape(avatar.height, avatar.width, 3).astype(int)
        for r in idle
    ]
    assert [r.frame.pts_us for r in idle[:3]] == [0, 40_000, 80_000]
    assert np.array_equal(pictures[0], pictures[50])  # it loops
    # It joins end to start as smoothly as consecutive frames follow each other.
    steps = [np.abs(pictures[i + 1] - pictures[i]).mean() for i in range(49)]
    assert np.abs(pictures[0] - pictures[49]).mean() <= 1.5 * max(steps)

    # And it can be animated.
    responses = await animate(
        stub,
        animate_requests(speech_like(1.0), config=(lipsync_pb2.AnimateConfig(avatar_id="tutor-1"))),
    )
    assert len(responses) == 25
    assert (responses[0].frame.video.width, responses[0].frame.video.height) == (
        avatar.width,
        avatar.height,
    )


async def test_deleting_an_avatar_removes_every_file(
    stub: lipsync_pb2_grpc.LipsyncServiceStub, settings: LipsyncSettings
) -> None:
    await create(stub, create_requests("to-delete", face_video(frames=30)))
    assert (settings.avatars_dir / "to-delete" / "avatar.json").is_file()
    await stub.DeleteAvatar(lipsync_pb2.DeleteAvatarRequest(avatar_id="to-delete"))
    assert avatar_files(settings) == []
    for call, request in [
        (stub.GetAvatar, lipsync_pb2.GetAvatarRequest(avatar_id="to-delete")),
        (stub.DeleteAvatar, lipsync_pb2.DeleteAvatarRequest(avatar_id="to-delete")),
        (stub.GetAvatarPreview, lipsync_pb2.GetAvatarPreviewRequest(avatar_id="to-delete")),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await call(request)
        assert failure.value.code() == grpc.StatusCode.NOT_FOUND


async def test_the_built_in_avatar_is_listed_and_cannot_be_deleted(
    stub: lipsync_pb2_grpc.LipsyncServiceStub,
) -> None:
    listed = (await stub.ListAvatars(lipsync_pb2.ListAvatarsRequest())).avatars
    assert [(a.avatar_id, a.builtin) for a in listed] == [("default", True)]
    for avatar_id in ("default", ""):
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await stub.DeleteAvatar(lipsync_pb2.DeleteAvatarRequest(avatar_id=avatar_id))
        assert failure.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    preview = await stub.GetAvatarPreview(lipsync_pb2.GetAvatarPreviewRequest())
    assert (preview.width, preview.height) == (256, 256)
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await create(stub, create_requests("default", face_video(frames=10)))
    assert failure.value.code() == grpc.StatusCode.ALREADY_EXISTS


async def test_idle_frames_are_paced_in_real_time(
    stub: lipsync_pb2_grpc.LipsyncServiceStub,
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    frames = [
        r
        async for r in stub.StreamIdleFrames(
            lipsync_pb2.StreamIdleFramesRequest(max_frames=13, fps=25)
        )
    ]
    elapsed = loop.time() - started
    assert len(frames) == 13 and frames[-1].frame_index == 12
    assert elapsed >= 0.47  # frame 12 is not sent before it is due, at 0.48 s


@pytest.mark.parametrize(
    ("video", "code", "words"),
    [
        (face_video(frames=30, face=False), grpc.StatusCode.INVALID_ARGUMENT, "no face found"),
        (
            b"this is not a video at all " * 100,
            grpc.StatusCode.INVALID_ARGUMENT,
            "cannot read the upload as a video",
        ),
        (
            cv2.imencode(".png", np.zeros((64, 64, 3), np.uint8))[1].tobytes(),
            grpc.StatusCode.INVALID_ARGUMENT,
            "unsupported file type",
        ),
        (b"", grpc.StatusCode.INVALID_ARGUMENT, "no video was sent"),
        (bytes(5 * 1024 * 1024), grpc.StatusCode.RESOURCE_EXHAUSTED, "exceeds the limit"),
    ],
    ids=["no-face", "not-a-video", "an-image", "empty", "too-large"],
)
async def test_a_failed_creation_says_why_and_leaves_nothing_behind(
    service: LipsyncServicer,
    stub: lipsync_pb2_grpc.LipsyncServiceStub,
    settings: LipsyncSettings,
    video: bytes,
    code: grpc.StatusCode,
    words: str,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await create(stub, create_requests("failing", video, chunk=1024 * 1024))
    assert failure.value.code() == code
    assert words in failure.value.details()
    assert avatar_files(settings) == []
    await _wait_clean(service, settings)
    # The id is free again.
    responses = await create(stub, create_requests("failing", face_video(frames=30)))
    assert responses[-1].avatar.avatar_id == "failing"


@pytest.mark.parametrize(
    ("spec", "code", "words"),
    [
        ({"avatar_id": "Bad Id"}, grpc.StatusCode.INVALID_ARGUMENT, "invalid"),
        ({"avatar_id": "x" * 65}, grpc.StatusCode.INVALID_ARGUMENT, "invalid"),
        (
            {"avatar_id": "ok", "engine": "musetalk"},
            grpc.StatusCode.INVALID_ARGUMENT,
            "unknown engine",
        ),
        ({"avatar_id": "ok", "video_format": "avi"}, grpc.StatusCode.INVALID_ARGUMENT, "avi"),
        (
            {"avatar_id": "ok", "options": lipsync_pb2.AvatarOptions(max_size=4000)},
            grpc.StatusCode.INVALID_ARGUMENT,
            "max_size",
        ),
        (
            {"avatar_id": "ok", "options": lipsync_pb2.AvatarOptions(idle_loop_seconds=60)},
            grpc.StatusCode.INVALID_ARGUMENT,
            "idle_loop_seconds",
        ),
    ],
    ids=["bad-id", "long-id", "engine", "format", "max-size", "loop-length"],
)
async def test_bad_specs_are_invalid_argument(
    stub: lipsync_pb2_grpc.LipsyncServiceStub,
    settings: LipsyncSettings,
    spec: dict[str, object],
    code: grpc.StatusCode,
    words: str,
) -> None:
    avatar_id = str(spec.pop("avatar_id"))
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        # The spec alone: it is checked before any video is read.
        await create(stub, create_requests(avatar_id, b"", **spec))
    assert failure.value.code() == code
    assert words in failure.value.details()
    assert avatar_files(settings) == []


async def test_a_video_in_another_container_than_declared_is_invalid_argument(
    stub: lipsync_pb2_grpc.LipsyncServiceStub, settings: LipsyncSettings
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await create(stub, create_requests("ok", face_video("mp4", frames=20), video_format="webm"))
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not webm" in failure.value.details()
    assert avatar_files(settings) == []


async def test_video_before_the_spec_is_invalid_argument(
    stub: lipsync_pb2_grpc.LipsyncServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await create(stub, [lipsync_pb2.CreateAvatarRequest(video_chunk=b"abc")])
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "spec" in failure.value.details()


async def test_an_existing_id_is_already_exists(
    stub: lipsync_pb2_grpc.LipsyncServiceStub, settings: LipsyncSettings
) -> None:
    await create(stub, create_requests("twice", face_video(frames=30)))
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await create(stub, create_requests("twice", face_video(frames=30)))
    assert failure.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert [p.name for p in settings.avatars_dir.iterdir()] == ["twice"]


@pytest.mark.parametrize("when", ["receiving", "building"])
async def test_a_cancelled_creation_leaves_nothing_behind(
    when: str,
    service: LipsyncServicer,
    stub: lipsync_pb2_grpc.LipsyncServiceStub,
    settings: LipsyncSettings,
) -> None:
    video = face_video(frames=110, size=320)
    requests = create_requests("cancelled", video, chunk=4096)
    sent_all = asyncio.Event()
    hold = asyncio.Event()

    async def send() -> object:
        for index, request in enumerate(requests):
            if when == "receiving" and index == len(requests) // 2:
                sent_all.set()
                await hold.wait()  # never sends the rest
            yield request
        sent_all.set()

    call = stub.CreateAvatar(send())
    await sent_all.wait()
    if when == "building":
        while (await call.read()).progress.stage < STAGE.AVATAR_STAGE_DETECTING_FACE:
            pass
    else:
        # The first progress message comes once the id is reserved and its folder made.
        assert (await call.read()).progress.stage == STAGE.AVATAR_STAGE_RECEIVING
    assert avatar_files(settings) != []  # work was under way
    call.cancel()
    for _ in range(500):
        await service.creator.wait_idle()
        if not avatar_files(settings):
            break
        await asyncio.sleep(0.01)
    assert avatar_files(settings) == []
    # The id is free again.
    hold.set()
    responses = await create(stub, create_requests("cancelled", face_video(frames=30)))
    assert responses[-1].avatar.avatar_id == "cancelled"
