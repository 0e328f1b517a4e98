"""Editing a tutor (issue 22): name, prompt, voice, model and avatar change together; bad
values are 422 with the field named and change nothing; another tenant's tutor or avatar is
404. No gateway is involved, so these run on the standalone backend."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.web_backend.conftest import login
from tests.web_backend.standalone import StandaloneBackend, standalone_backend
from web_backend.app import models

pytestmark = pytest.mark.integration


def add_avatar(backend: StandaloneBackend, tenant_id: str, key: str) -> str:
    """An avatar row (as create-with-avatar leaves one) of a tenant; returns its id."""
    with backend.app.state.ctx.sessions() as db:
        avatar = models.Avatar(tenant_id=tenant_id, avatar_key=key, display_name=key)
        db.add(avatar)
        db.commit()
        return avatar.id


async def admin_with_tutor(
    backend: StandaloneBackend, client: httpx.AsyncClient, tenant: str
) -> tuple[dict[str, str], dict[str, object]]:
    headers = await login(client, backend.add_admin(tenant))
    made = await client.post(
        "/api/tutors",
        json={"name": "Ada", "system_prompt": "Teach maths.", "voice": "en-gb"},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    return headers, made.json()


async def test_every_editable_field_changes(tmp_path: Path, database_url: str) -> None:
    async with standalone_backend(tmp_path, database_url) as backend:
        async with backend.client() as client:
            headers, tutor = await admin_with_tutor(backend, client, "alpha")
            avatar_id = add_avatar(backend, str(tutor["tenant_id"]), "alpha-face")
            edit = {
                "name": "Ada Lovelace",
                "system_prompt": "Teach programming, one step at a time.",
                "voice": "en-us",
                "llm_model": "llama3.2:3b",
                "avatar_id": avatar_id,
                "description": "Analytical",
                "language_code": "en-US",
                "video_enabled": False,
            }
            changed = await client.patch(f"/api/tutors/{tutor['id']}", json=edit, headers=headers)
            assert changed.status_code == 200, changed.text
            stored = (await client.get(f"/api/tutors/{tutor['id']}", headers=headers)).json()
            assert {name: stored[name] for name in edit} == edit
            assert stored["avatar"]["avatar_key"] == "alpha-face"
            # Back to the default avatar.
            cleared = await client.patch(
                f"/api/tutors/{tutor['id']}", json={"avatar_id": None}, headers=headers
            )
            assert cleared.json()["avatar_id"] is None and cleared.json()["name"] == "Ada Lovelace"


async def test_bad_values_are_422_and_change_nothing(tmp_path: Path, database_url: str) -> None:
    async with standalone_backend(tmp_path, database_url) as backend:
        async with backend.client() as client:
            headers, tutor = await admin_with_tutor(backend, client, "alpha")
            for body, field in (
                ({"name": ""}, "name"),
                ({"name": "x" * 201}, "name"),
                ({"language_code": "english please"}, "language_code"),
                ({"system_prompt": "x" * 20001}, "system_prompt"),
                ({"video_enabled": "sometimes"}, "video_enabled"),
            ):
                response = await client.patch(
                    f"/api/tutors/{tutor['id']}", json={**body, "voice": "changed"}, headers=headers
                )
                assert response.status_code == 422, (body, response.text)
                assert response.json()["detail"][0]["loc"][-1] == field
            stored = (await client.get(f"/api/tutors/{tutor['id']}", headers=headers)).json()
            assert (stored["name"], stored["voice"]) == ("Ada", "en-gb")


async def test_another_tenants_tutor_or_avatar_is_404(tmp_path: Path, database_url: str) -> None:
    async with standalone_backend(tmp_path, database_url) as backend:
        async with backend.client() as client:
            alpha, alpha_tutor = await admin_with_tutor(backend, client, "alpha")
            beta, beta_tutor = await admin_with_tutor(backend, client, "beta")
            beta_avatar = add_avatar(backend, str(beta_tutor["tenant_id"]), "beta-face")
            other = await client.patch(
                f"/api/tutors/{beta_tutor['id']}", json={"name": "Mine now"}, headers=alpha
            )
            assert other.status_code == 404
            borrowed = await client.patch(
                f"/api/tutors/{alpha_tutor['id']}", json={"avatar_id": beta_avatar}, headers=alpha
            )
            assert borrowed.status_code == 404
            untouched = await client.get(f"/api/tutors/{beta_tutor['id']}", headers=beta)
            assert untouched.json()["name"] == "Ada"
            mine = await client.get(f"/api/tutors/{alpha_tutor['id']}", headers=alpha)
            assert mine.json()["avatar_id"] is None
