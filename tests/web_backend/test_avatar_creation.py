"""create-with-avatar against the real gateway and lip-sync service: progress, success, rollback
on any failure (a real video without a face, a database failure, the gateway down), upload
limits and bad files."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.real_stack import closed_address
from tests.web_backend.conftest import Backend, Tenant, make_tenant, running_backend
from tests.web_backend.media import face_video, mp4_video, wav_audio
from web_backend.app import crud, models
from web_backend.app.core.gateway import GatewayError

pytestmark = pytest.mark.integration


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Small limits so the tests can go past them cheaply.
    return {"max_video_bytes": 64 * 1024, "max_voice_bytes": 32 * 1024}


async def wait_for_job(backend: Backend, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    """Polls a job like the admin page does, until it finishes; returns its last state."""
    for _ in range(2400):
        job = (await backend.client.get(f"/api/avatar-jobs/{job_id}", headers=headers)).json()
        if job["state"] in ("succeeded", "failed"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def form(**fields: str) -> dict[str, str]:
    return {"name": "Ada", "description": "maths", "system_prompt": "Be kind.", **fields}


async def avatar_exists(backend: Backend, avatar_key: str) -> bool:
    """Whether the lip-sync service (through the gateway) has an avatar by this key."""
    try:
        await backend.gateway.get_avatar(avatar_key)
    except GatewayError as error:
        assert error.http_status == 404, error
        return False
    return True


async def gateway_avatar_keys(backend: Backend) -> set[str]:
    """Every avatar the real lip-sync service holds (ListAvatars through the gateway)."""
    from vtutor.gateway.v1 import admin_pb2

    from tests.support.real_stack import SERVICE_AUTH

    async with backend.stack.stub() as stub:
        response = await stub.ListAvatars(admin_pb2.ListAvatarsRequest(), metadata=SERVICE_AUTH)
    return {avatar.avatar_id for avatar in response.avatars}


async def test_creates_tutor_with_avatar(backend: Backend, tenants: tuple[Tenant, Tenant]) -> None:
    alpha, _ = tenants
    response = await backend.client.post(
        "/api/tutors/create-with-avatar",
        data=form(avatar_name="Ada's Face", voice="en-us"),
        files={
            "avatar_video": ("ada.mp4", face_video(), "video/mp4"),
            "voice_sample": ("ada.wav", wav_audio(), "audio/wav"),
        },
        headers=alpha.admin_headers,
    )
    assert response.status_code == 202, response.text
    job = await wait_for_job(backend, alpha.admin_headers, response.json()["id"])
    assert job["state"] == "succeeded", job
    assert job["percent"] == 100.0
    tutor = (
        await backend.client.get(f"/api/tutors/{job['tutor_id']}", headers=alpha.admin_headers)
    ).json()
    assert tutor["name"] == "Ada" and tutor["voice"] == "en-us"
    assert tutor["avatar"]["id"] == job["avatar_id"]
    key = tutor["avatar"]["avatar_key"]
    assert key.startswith("ada-s-face-") and await avatar_exists(backend, key)
    assert tutor["avatar"]["engine"] == (await backend.gateway.get_avatar(key)).engine
    assert tutor["avatar"]["width"] > 0 and tutor["avatar"]["height"] > 0
    preview = await backend.client.get(
        f"/api/avatars/{job['avatar_id']}/preview", headers=alpha.student_headers
    )
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
    assert preview.content[:2] == b"\xff\xd8"
    with backend.db() as db:
        row = db.get(models.Tutor, job["tutor_id"])
        assert row.voice_sample.endswith(".wav")
    assert (backend.settings.data_dir / "voices" / row.voice_sample).read_bytes()[:4] == b"RIFF"
    # Temporary uploads are gone.
    assert list((backend.settings.data_dir / "uploads").iterdir()) == []
    # Deleting the avatar deletes it in the lip-sync service and unlinks it from the tutor.
    deleted = await backend.client.delete(
        f"/api/avatars/{job['avatar_id']}", headers=alpha.admin_headers
    )
    assert deleted.status_code == 204 and not await avatar_exists(backend, key)
    tutor = (
        await backend.client.get(f"/api/tutors/{job['tutor_id']}", headers=alpha.admin_headers)
    ).json()
    assert tutor["avatar_id"] is None


async def test_progress_is_visible_while_running(
    backend: Backend, tenants: tuple[Tenant, Tenant]
) -> None:
    alpha, _ = tenants
    response = await backend.client.post(
        "/api/tutors/create-with-avatar",
        data=form(),
        files={"avatar_video": ("a.mp4", face_video(), "video/mp4")},
        headers=alpha.admin_headers,
    )
    seen: set[str] = set()
    job_id = response.json()["id"]
    for _ in range(6000):
        job = (
            await backend.client.get(f"/api/avatar-jobs/{job_id}", headers=alpha.admin_headers)
        ).json()
        seen.add(job["stage"])
        if job["state"] in ("succeeded", "failed"):
            break
        await asyncio.sleep(0.01)
    assert job["state"] == "succeeded", job
    # The lip-sync service reports its stages as it goes: a poller sees one on the way.
    assert seen - {job["stage"]}, seen


async def test_no_face_leaves_nothing_behind(
    backend: Backend, tenants: tuple[Tenant, Tenant]
) -> None:
    alpha, _ = tenants
    before = await gateway_avatar_keys(backend)
    video = mp4_video()  # a real H.264 video of a grey wall
    response = await backend.client.post(
        "/api/tutors/create-with-avatar",
        data=form(),
        files={
            "avatar_video": ("a.mp4", video, "video/mp4"),
            "voice_sample": ("v.wav", wav_audio(), "audio/wav"),
        },
        headers=alpha.admin_headers,
    )
    job = await wait_for_job(backend, alpha.admin_headers, response.json()["id"])
    assert job["state"] == "failed" and "no face" in job["error"]
    assert job["tutor_id"] is None
    assert (await backend.client.get("/api/tutors", headers=alpha.admin_headers)).json() == []
    assert (await backend.client.get("/api/avatars", headers=alpha.admin_headers)).json() == []
    assert await gateway_avatar_keys(backend) == before
    assert list((backend.settings.data_dir / "uploads").iterdir()) == []
    assert not (backend.settings.data_dir / "voices").exists() or not list(
        (backend.settings.data_dir / "voices").iterdir()
    )


async def test_database_failure_deletes_the_new_avatar(
    backend: Backend, tenants: tuple[Tenant, Tenant], monkeypatch: pytest.MonkeyPatch
) -> None:
    alpha, _ = tenants
    real_create = crud.create_tutor

    def failing_create(**kwargs: Any) -> models.Tutor:
        real_create(**kwargs)  # the rows are flushed, then the transaction fails
        raise RuntimeError("database went away")

    monkeypatch.setattr(crud, "create_tutor", failing_create)
    created: list[str] = []
    real_create_avatar = backend.gateway.create_avatar

    def watching_create_avatar(spec: Any, video: Any) -> Any:
        created.append(spec.avatar_key)  # the key the backend chose; the call itself is real
        return real_create_avatar(spec, video)

    monkeypatch.setattr(backend.gateway, "create_avatar", watching_create_avatar)
    response = await backend.client.post(
        "/api/tutors/create-with-avatar",
        data=form(),
        files={"avatar_video": ("a.mp4", face_video(), "video/mp4")},
        headers=alpha.admin_headers,
    )
    job = await wait_for_job(backend, alpha.admin_headers, response.json()["id"])
    assert job["state"] == "failed"
    # The lip-sync service made the avatar, and the backend deleted it again.
    assert len(created) == 1 and not await avatar_exists(backend, created[0])
    with backend.db() as db:
        assert db.query(models.Tutor).count() == 0
        assert db.query(models.Avatar).count() == 0


async def test_gateway_down_fails_the_job(backend: Backend) -> None:
    """The same database, served by a backend whose gateway address has nothing behind it."""
    settings = backend.settings.model_copy(update={"gateway_address": closed_address()})
    async with running_backend(settings, backend.stack) as down:
        alpha = await make_tenant(down, "down")
        response = await down.client.post(
            "/api/tutors/create-with-avatar",
            data=form(),
            files={"avatar_video": ("a.mp4", face_video(), "video/mp4")},
            headers=alpha.admin_headers,
        )
        job = await wait_for_job(down, alpha.admin_headers, response.json()["id"])
        assert job["state"] == "failed" and job["error"], job
        assert (await down.client.get("/api/tutors", headers=alpha.admin_headers)).json() == []
        assert list((settings.data_dir / "uploads").iterdir()) == []


@pytest.mark.parametrize(
    ("files", "status", "detail"),
    [
        ({"avatar_video": ("a.mp4", b"\0" * 70 * 1024, "video/mp4")}, 413, "larger than"),
        ({"avatar_video": ("a.mp4", b"", "video/mp4")}, 422, "empty"),
        ({"avatar_video": ("a.txt", b"just some text, not a video", "text/plain")}, 415, "MP4"),
        (
            {
                "avatar_video": ("a.mp4", mp4_video(), "video/mp4"),
                "voice_sample": ("v.wav", b"RIFF" + b"\0" * 40 * 1024, "audio/wav"),
            },
            413,
            "voice sample",
        ),
        (
            {
                "avatar_video": ("a.mp4", mp4_video(), "video/mp4"),
                "voice_sample": ("v.wav", b"this is not audio", "audio/wav"),
            },
            415,
            "voice sample",
        ),
    ],
    ids=["video-too-large", "video-empty", "not-a-video", "voice-too-large", "not-audio"],
)
async def test_bad_uploads_are_refused(
    backend: Backend,
    tenants: tuple[Tenant, Tenant],
    files: dict[str, Any],
    status: int,
    detail: str,
) -> None:
    alpha, _ = tenants
    response = await backend.client.post(
        "/api/tutors/create-with-avatar", data=form(), files=files, headers=alpha.admin_headers
    )
    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]
    with backend.db() as db:
        assert db.query(models.AvatarJob).count() == 0
    uploads = backend.settings.data_dir / "uploads"
    assert not uploads.exists() or list(uploads.iterdir()) == []


async def test_oversized_request_refused_before_reading(
    backend: Backend, tenants: tuple[Tenant, Tenant]
) -> None:
    alpha, _ = tenants
    limit = backend.settings.max_video_bytes + backend.settings.max_voice_bytes + 1024 * 1024
    response = await backend.client.post(
        "/api/tutors/create-with-avatar",
        content=b"x",
        headers={
            **alpha.admin_headers,
            "Content-Length": str(limit + 1),
            "Content-Type": "multipart/form-data; boundary=x",
        },
    )
    assert response.status_code == 413


async def test_invalid_tutor_fields(backend: Backend, tenants: tuple[Tenant, Tenant]) -> None:
    alpha, _ = tenants
    response = await backend.client.post(
        "/api/tutors/create-with-avatar",
        data=form(language_code="!!"),
        files={"avatar_video": ("a.mp4", mp4_video(), "video/mp4")},
        headers=alpha.admin_headers,
    )
    assert response.status_code == 422
    missing_video = await backend.client.post(
        "/api/tutors/create-with-avatar", data=form(), headers=alpha.admin_headers
    )
    assert missing_video.status_code == 422
