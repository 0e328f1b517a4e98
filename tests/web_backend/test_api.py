"""The HTTP API on SQLite and PostgreSQL: auth, students, tutors, roles and tenant isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.web_backend.conftest import PASSWORD, Backend, Tenant, login
from web_backend.app.core.security import TokenClaims, create_access_token

pytestmark = pytest.mark.integration


async def test_health_and_pages(backend: Backend) -> None:
    assert (await backend.client.get("/health")).json() == {"status": "ok"}
    admin_page = await backend.client.get("/admin")
    assert admin_page.status_code == 200 and "create-tutor-form" in admin_page.text
    student_page = await backend.client.get("/student")
    assert "Pick a tutor" in student_page.text
    assert (await backend.client.get("/static/admin.js")).status_code == 200


async def test_login_and_me(backend: Backend, tenants: tuple[Tenant, Tenant]) -> None:
    alpha, _ = tenants
    me = await backend.client.get("/api/auth/me", headers=alpha.admin_headers)
    assert me.json()["role"] == "admin" and me.json()["tenant_id"] == alpha.id
    student_me = await backend.client.get("/api/auth/me", headers=alpha.student_headers)
    assert student_me.json()["role"] == "student" and student_me.json()["id"] == alpha.student_id
    wrong = await backend.client.post(
        "/api/auth/login", json={"email": "admin@alpha.test", "password": "nope"}
    )
    assert wrong.status_code == 401
    unknown = await backend.client.post(
        "/api/auth/login", json={"email": "ghost@alpha.test", "password": PASSWORD}
    )
    assert unknown.status_code == 401
    # Emails are case-insensitive.
    assert await login(backend.client, "ADMIN@alpha.test")


async def test_bad_json_and_missing_fields(
    backend: Backend, tenants: tuple[Tenant, Tenant]
) -> None:
    alpha, _ = tenants
    broken = await backend.client.post(
        "/api/tutors",
        content=b'{"name": "x",',
        headers={**alpha.admin_headers, "Content-Type": "application/json"},
    )
    assert broken.status_code == 422
    assert broken.json()["detail"][0]["type"] == "json_invalid"
    missing = await backend.client.post("/api/tutors", json={}, headers=alpha.admin_headers)
    assert missing.status_code == 422
    bad_language = await backend.client.post(
        "/api/tutors",
        json={"name": "x", "language_code": "not a language"},
        headers=alpha.admin_headers,
    )
    assert bad_language.status_code == 422
    short_password = await backend.client.post(
        "/api/students",
        json={"email": "a@b.test", "password": "short"},
        headers=alpha.admin_headers,
    )
    assert short_password.status_code == 422


async def test_tokens_expired_forged_or_missing(
    backend: Backend, tenants: tuple[Tenant, Tenant]
) -> None:
    alpha, _ = tenants
    secret = backend.app.state.ctx.jwt_secret
    with backend.db() as db:
        from web_backend.app import models

        admin = db.query(models.Admin).filter_by(tenant_id=alpha.id).one()
    claims = TokenClaims(subject=admin.id, tenant_id=alpha.id, role="admin")
    expired = create_access_token(
        claims, secret=secret, ttl=timedelta(minutes=5), now=datetime.now(UTC) - timedelta(hours=1)
    )
    response = await backend.client.get(
        "/api/tutors", headers={"Authorization": f"Bearer {expired}"}
    )
    assert response.status_code == 401 and response.json()["detail"] == "token expired"
    forged = create_access_token(
        claims, secret="another secret, long enough for HS256 keys", ttl=timedelta(minutes=5)
    )
    response = await backend.client.get(
        "/api/tutors", headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status_code == 401
    assert (await backend.client.get("/api/tutors")).status_code == 401
    garbage = await backend.client.get("/api/tutors", headers={"Authorization": "Bearer x.y.z"})
    assert garbage.status_code == 401
    # A token claiming another tenant for this admin is refused.
    _, beta = tenants
    lying = create_access_token(
        TokenClaims(subject=admin.id, tenant_id=beta.id, role="admin"),
        secret=secret,
        ttl=timedelta(minutes=5),
    )
    response = await backend.client.get("/api/tutors", headers={"Authorization": f"Bearer {lying}"})
    assert response.status_code == 401


async def test_students_crud(backend: Backend, tenants: tuple[Tenant, Tenant]) -> None:
    alpha, _ = tenants
    headers = alpha.admin_headers
    created = await backend.client.post(
        "/api/students", json={"email": "kim@alpha.test", "password": PASSWORD}, headers=headers
    )
    assert created.status_code == 201
    student_id = created.json()["id"]
    assert "hashed_password" not in created.json()
    duplicate = await backend.client.post(
        "/api/students", json={"email": "kim@alpha.test", "password": PASSWORD}, headers=headers
    )
    assert duplicate.status_code == 409
    emails = [
        s["email"] for s in (await backend.client.get("/api/students", headers=headers)).json()
    ]
    assert emails == ["kim@alpha.test", "student@alpha.test"]
    updated = await backend.client.patch(
        f"/api/students/{student_id}",
        json={"full_name": "Kim", "is_active": False},
        headers=headers,
    )
    assert updated.json()["full_name"] == "Kim" and updated.json()["is_active"] is False
    disabled = await backend.client.post(
        "/api/auth/login", json={"email": "kim@alpha.test", "password": PASSWORD}
    )
    assert disabled.status_code == 401
    deleted = await backend.client.delete(f"/api/students/{student_id}", headers=headers)
    assert deleted.status_code == 204
    gone = await backend.client.get(f"/api/students/{student_id}", headers=headers)
    assert gone.status_code == 404


async def test_tutors_crud(backend: Backend, tenants: tuple[Tenant, Tenant]) -> None:
    alpha, _ = tenants
    headers = alpha.admin_headers
    created = await backend.client.post(
        "/api/tutors",
        json={"name": "Ada", "system_prompt": "Teach maths.", "language_code": "en-GB"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    tutor = created.json()
    assert tutor["knowledge_base_id"] == f"kb-{tutor['id']}" and tutor["avatar"] is None
    changed = await backend.client.patch(
        f"/api/tutors/{tutor['id']}", json={"voice": "en-gb"}, headers=headers
    )
    assert changed.json()["voice"] == "en-gb" and changed.json()["system_prompt"] == "Teach maths."
    listed = await backend.client.get("/api/tutors", headers=headers)
    assert [t["name"] for t in listed.json()] == ["Ada"]
    cards = await backend.client.get("/api/student/tutors", headers=alpha.student_headers)
    assert cards.json()[0]["name"] == "Ada" and "system_prompt" not in cards.json()[0]
    unknown_avatar = await backend.client.patch(
        f"/api/tutors/{tutor['id']}", json={"avatar_id": "nope"}, headers=headers
    )
    assert unknown_avatar.status_code == 404
    # No knowledge base yet: the gateway says NOT_FOUND and deletion still goes through.
    assert (
        await backend.client.delete(f"/api/tutors/{tutor['id']}", headers=headers)
    ).status_code == 204
    assert (
        await backend.client.get(f"/api/tutors/{tutor['id']}", headers=headers)
    ).status_code == 404


async def test_roles_are_checked(backend: Backend, tenants: tuple[Tenant, Tenant]) -> None:
    alpha, _ = tenants
    student = alpha.student_headers
    for method, path in [
        ("GET", "/api/tutors"),
        ("POST", "/api/tutors"),
        ("GET", "/api/students"),
        ("GET", "/api/avatars"),
        ("GET", "/api/catalog"),
    ]:
        response = await backend.client.request(method, path, headers=student, json={"name": "x"})
        assert response.status_code == 403, (method, path)
    tutor = await backend.client.post(
        "/api/tutors", json={"name": "T"}, headers=alpha.admin_headers
    )
    admin_chat = await backend.client.post(
        f"/api/tutors/{tutor.json()['id']}/chat", json={"text": "hi"}, headers=alpha.admin_headers
    )
    assert admin_chat.status_code == 403


async def test_tenant_isolation_on_every_route(
    backend: Backend, tenants: tuple[Tenant, Tenant]
) -> None:
    """Every route that takes an id answers 404 for another tenant's id, and changes nothing."""
    alpha, beta = tenants
    client = backend.client
    tutor = (
        await client.post("/api/tutors", json={"name": "Alpha tutor"}, headers=alpha.admin_headers)
    ).json()
    docs = await client.post(
        f"/api/tutors/{tutor['id']}/documents",
        files=[("files", ("notes.txt", b"Photosynthesis makes sugar.", "text/plain"))],
        headers=alpha.admin_headers,
    )
    document_id = docs.json()["documents"][0]["id"]
    chat = await client.post(
        f"/api/tutors/{tutor['id']}/chat", json={"text": "hello"}, headers=alpha.student_headers
    )
    session_id = chat.json()["session_id"]
    live = await client.post(f"/api/tutors/{tutor['id']}/sessions", headers=alpha.student_headers)
    live_id = live.json()["session"]["id"]
    with backend.db() as db:
        from web_backend.app import crud, models

        avatar = models.Avatar(tenant_id=alpha.id, avatar_key="alpha-face", display_name="A")
        db.add(avatar)
        db.commit()
        job = crud.create_job(db=db, tenant_id=alpha.id)
        avatar_id, job_id = avatar.id, job.id

    admin_routes = [
        ("GET", f"/api/tutors/{tutor['id']}"),
        ("PATCH", f"/api/tutors/{tutor['id']}"),
        ("DELETE", f"/api/tutors/{tutor['id']}"),
        ("GET", f"/api/tutors/{tutor['id']}/documents"),
        ("POST", f"/api/tutors/{tutor['id']}/documents"),
        ("DELETE", f"/api/tutors/{tutor['id']}/documents/{document_id}"),
        ("GET", f"/api/students/{alpha.student_id}"),
        ("PATCH", f"/api/students/{alpha.student_id}"),
        ("DELETE", f"/api/students/{alpha.student_id}"),
        ("GET", f"/api/avatars/{avatar_id}"),
        ("DELETE", f"/api/avatars/{avatar_id}"),
        ("GET", f"/api/avatars/{avatar_id}/preview"),
        ("GET", f"/api/avatar-jobs/{job_id}"),
        ("GET", f"/api/sessions/{session_id}"),
        ("POST", f"/api/sessions/{live_id}/end"),
    ]
    for method, path in admin_routes:
        kwargs: dict[str, object] = {"headers": beta.admin_headers}
        if method == "PATCH":
            kwargs["json"] = {"name": "stolen"} if "tutors" in path else {"full_name": "stolen"}
        if method == "POST" and path.endswith("/documents"):
            kwargs["files"] = [("files", ("x.txt", b"x", "text/plain"))]
        response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 404, (method, path, response.status_code)

    student_routes = [
        ("POST", f"/api/tutors/{tutor['id']}/sessions", None),
        ("POST", f"/api/tutors/{tutor['id']}/chat", {"text": "hi"}),
        ("POST", f"/api/tutors/{tutor['id']}/chat/stream", {"text": "hi"}),
        ("GET", f"/api/sessions/{session_id}", None),
        ("POST", f"/api/sessions/{live_id}/end", None),
        ("GET", f"/api/avatars/{avatar_id}/preview", None),
    ]
    for method, path, body in student_routes:
        response = await client.request(method, path, headers=beta.student_headers, json=body)
        assert response.status_code == 404, (method, path, response.status_code)
    # Continuing alpha's chat session from beta's student, through beta's own tutor: 404 too.
    beta_tutor = (
        await client.post("/api/tutors", json={"name": "B"}, headers=beta.admin_headers)
    ).json()
    response = await client.post(
        f"/api/tutors/{beta_tutor['id']}/chat",
        json={"text": "hi", "session_id": session_id},
        headers=beta.student_headers,
    )
    assert response.status_code == 404
    # Lists show only the caller's tenant.
    assert (await client.get("/api/tutors", headers=beta.admin_headers)).json()[0]["name"] == "B"
    beta_sessions = (await client.get("/api/sessions", headers=beta.admin_headers)).json()
    assert beta_sessions == []
    beta_students = (await client.get("/api/students", headers=beta.admin_headers)).json()
    assert [s["email"] for s in beta_students] == ["student@beta.test"]
    assert (await client.get("/api/avatars", headers=beta.admin_headers)).json() == []
    # Nothing of alpha's changed.
    again = await client.get(f"/api/tutors/{tutor['id']}", headers=alpha.admin_headers)
    assert again.json()["name"] == "Alpha tutor"
    still = await client.get(f"/api/sessions/{live_id}", headers=alpha.admin_headers)
    assert still.json()["state"] == "active"
