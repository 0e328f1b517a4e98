"""create-with-avatar: progress, success, rollback on any failure, upload limits and bad files."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.web_backend.conftest import Backend, Tenant
from tests.web_backend.fake_gateway import NO_FACE_MARKER
from tests.web_backend.media import mp4_video, wav_audio
from web_backend.app import crud, models

pytestmark = pytest.mark.integration


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Small limits so the tests can go past them cheaply.
    return {"max_video_bytes": 64 * 1024, "max_voice_bytes": 32 * 1024}


async def wait_for_job(backend: Backend, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    """Polls a job like the admin page does, until it finishes; returns its last state."""
    for _ in range(400):
        job = (await backend.client.get(f"/api/avatar-jobs/{job_id}", headers=headers)).json()
        if job["state"] in ("succeeded", "failed"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def form(**fields: str) -> dict[str, str]:
    return {"name": "Ada", "description": "maths", "system_prompt": "Be kind.", **fields}


async def test_creates_tutor_with_avatar(backend: Backend, tenants: tuple[Tenant, Tenant]) -> None:
    alpha, _ = tenants
    response = await backend.client.post(
        "/api/tutors/create-with-avatar",
        data=form(avatar_name="Ada's Face", voice="en-us"),
        files={
            "avatar_video": ("ada.mp4", mp4_video(), "video/mp4"),
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
    assert key.startswith("ada-s-face-") and key in backend.fake.avatars
    assert tutor["avatar"]["engine"] == "procedural" and tutor["avatar"]["width"] == 256
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
    assert deleted.status_code == 204 and key in backend.fake.deleted_avatars
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
        files={"avatar_video": ("a.mp4", mp4_video(), "video/mp4")},
        headers=alpha.admin_headers,
    )
    seen: set[str] = set()
    job_id = response.json()["id"]
    for _ in range(400):
        job = (
            await backend.client.get(f"/api/avatar-jobs/{job_id}", headers=alpha.admin_headers)
        ).json()
        seen.add(job["stage"])
        if job["state"] in ("succeeded", "failed"):
            break
        await asyncio.sleep(0.01)
    assert job["state"] == "succeeded"
    # The fake pauses after "decoding": a poller sees at least that stage on the way.
    assert "decoding" in seen


async def test_no_face_leaves_nothing_behind(
    backend: Backend, tenants: tuple[Tenant, Tenant]
) -> None:
    alpha, _ = tenants
    video = mp4_video() + NO_FACE_MARKER
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
    assert backend.fake.avatars == {}
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
    response = await backend.client.post(
        "/api/tutors/create-with-avatar",
        data=form(),
        files={"avatar_video": ("a.mp4", mp4_video(), "video/mp4")},
        headers=alpha.admin_headers,
    )
    job = await wait_for_job(backend, alpha.admin_headers, response.json()["id"])
    assert job["state"] == "failed"
    assert backend.fake.avatars == {} and len(backend.fake.deleted_avatars) == 1
    with backend.db() as db:
        assert db.query(models.Tutor).count() == 0
        assert db.query(models.Avatar).count() == 0


async def test_gateway_down_fails_the_job(backend: Backend, tenants: tuple[Tenant, Tenant]) -> None:
    alpha, _ = tenants
    import grpc

    backend.fake.fail_next["CreateAvatar"] = grpc.StatusCode.UNAVAILABLE
    response = await backend.client.post(
        "/api/tutors/create-with-avatar",
        data=form(),
        files={"avatar_video": ("a.mp4", mp4_video(), "video/mp4")},
        headers=alpha.admin_headers,
    )
    job = await wait_for_job(backend, alpha.admin_headers, response.json()["id"])
    # The detail depends on how far the upload got when the call failed.
    assert job["state"] == "failed" and job["error"]
    assert (await backend.client.get("/api/tutors", headers=alpha.admin_headers)).json() == []


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
