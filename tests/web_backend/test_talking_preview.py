"""The admin sees a tutor talk before students do: its avatar saying a greeting in its voice,
made by the real gateway, TTS and lip-sync (issue 14 item 5)."""

from __future__ import annotations

import io

import av
import pytest

from tests.web_backend.conftest import Backend, Tenant

pytestmark = pytest.mark.integration


async def test_the_admin_sees_a_tutor_talk(backend: Backend, tenants: tuple[Tenant, Tenant]):
    alpha, beta = tenants
    made = await backend.client.post(
        "/api/tutors", json={"name": "Ada", "voice": "en-us"}, headers=alpha.admin_headers
    )
    assert made.status_code == 201, made.text
    url = f"/api/tutors/{made.json()['id']}/talking-preview"

    sample = await backend.client.get(url, headers=alpha.admin_headers)
    assert sample.status_code == 200, sample.text
    assert sample.headers["content-type"] == "video/mp4"
    with av.open(io.BytesIO(sample.content)) as container:
        kinds = sorted(stream.type for stream in container.streams)
        frames = sum(1 for _ in container.decode(video=0))
    assert kinds == ["audio", "video"]
    assert frames > 25  # over a second of the avatar talking

    assert (await backend.client.get(url, headers=beta.admin_headers)).status_code == 404
    assert (await backend.client.get(url, headers=alpha.student_headers)).status_code in (401, 403)
