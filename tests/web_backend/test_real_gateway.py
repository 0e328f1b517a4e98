"""The backend against the real gateway stack (every service as its own process, embedded engines).

Skipped while the gateway or a service is not built in this tree.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from vtutor.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from tests.web_backend.conftest import Backend, Tenant, make_settings, make_tenant
from tests.web_backend.fake_gateway import FakeGateway
from tests.web_backend.media import face_video, mp4_video
from tests.web_backend.test_avatar_creation import wait_for_job
from web_backend.app import models
from web_backend.app.core.gateway import GatewayError
from web_backend.app.main import create_app

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
async def real_backend(
    tmp_path: Path, database_url: str, gateway_stack: str
) -> AsyncIterator[Backend]:
    """The backend in front of the real gateway."""
    app = create_app(make_settings(tmp_path, database_url, gateway_stack))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://backend") as client:
            yield Backend(app, client, app.state.ctx.settings, FakeGateway())


@pytest.fixture
async def tenant(real_backend: Backend) -> Tenant:
    return await make_tenant(real_backend, "real")


async def test_avatar_creation_and_rollback(real_backend: Backend, tenant: Tenant) -> None:
    client, headers = real_backend.client, tenant.admin_headers
    made = await client.post(
        "/api/tutors/create-with-avatar",
        data={"name": "Face tutor", "avatar_name": "drawn face"},
        files={"avatar_video": ("face.mp4", face_video(), "video/mp4")},
        headers=headers,
    )
    assert made.status_code == 202, made.text
    job = await wait_for_job(real_backend, headers, made.json()["id"])
    assert job["state"] == "succeeded", job
    preview = await client.get(f"/api/avatars/{job['avatar_id']}/preview", headers=headers)
    assert preview.status_code == 200 and preview.content[:2] == b"\xff\xd8"

    failed = await client.post(
        "/api/tutors/create-with-avatar",
        data={"name": "Faceless", "avatar_name": "grey wall"},
        files={"avatar_video": ("grey.mp4", mp4_video(), "video/mp4")},
        headers=headers,
    )
    job = await wait_for_job(real_backend, headers, failed.json()["id"])
    assert job["state"] == "failed" and job["error"]
    tutors = (await client.get("/api/tutors", headers=headers)).json()
    assert [t["name"] for t in tutors] == ["Face tutor"]
    with real_backend.db() as db:
        keys = [a.avatar_key for a in db.query(models.Avatar).all()]
    assert len(keys) == 1
    # The lip-sync service has no avatar by the failed name either.
    gateway = real_backend.app.state.ctx.gateway
    with pytest.raises(GatewayError) as missing:
        await gateway.get_avatar("grey-wall-does-not-exist")
    assert missing.value.http_status == 404


async def test_knowledge_chat_and_live_turns(real_backend: Backend, tenant: Tenant) -> None:
    client = real_backend.client
    tutor = (
        await client.post(
            "/api/tutors",
            json={"name": "Bio", "video_enabled": False},
            headers=tenant.admin_headers,
        )
    ).json()
    indexed = await client.post(
        f"/api/tutors/{tutor['id']}/documents",
        files=[
            (
                "files",
                (
                    "leaf.txt",
                    b"Photosynthesis turns sunlight, water and carbon "
                    b"dioxide into glucose and oxygen inside the chloroplasts.",
                    "text/plain",
                ),
            )
        ],
        headers=tenant.admin_headers,
    )
    assert indexed.status_code == 201, indexed.text
    assert indexed.json()["document_count"] == 1

    answer = await client.post(
        f"/api/tutors/{tutor['id']}/chat",
        json={"text": "What does photosynthesis make?"},
        headers=tenant.student_headers,
    )
    assert answer.status_code == 200, answer.text
    assert "glucose" in answer.json()["turn"]["assistant_text"].lower()

    started = (
        await client.post(f"/api/tutors/{tutor['id']}/sessions", headers=tenant.student_headers)
    ).json()
    await converse_text(started, "What is made in the chloroplasts?")
    session_id = started["session"]["id"]
    for _ in range(300):
        detail = (
            await client.get(f"/api/sessions/{session_id}", headers=tenant.admin_headers)
        ).json()
        if detail["turns"]:
            break
        await asyncio.sleep(0.05)
    assert detail["turns"][0]["user_text"] == "What is made in the chloroplasts?"
    assert detail["turns"][0]["assistant_text"]
    ended = await client.post(f"/api/sessions/{session_id}/end", headers=tenant.student_headers)
    assert ended.json()["state"] == "ended"


async def converse_text(started: dict[str, Any], text: str) -> None:
    """Plays the edge's part: one typed turn over Converse with the engine token."""
    queue: asyncio.Queue[gateway_pb2.ConverseRequest | None] = asyncio.Queue()

    async def requests() -> AsyncIterator[gateway_pb2.ConverseRequest]:
        while (item := await queue.get()) is not None:
            yield item

    await queue.put(
        gateway_pb2.ConverseRequest(
            config=gateway_pb2.ConverseConfig(
                session_id=started["gateway_session_id"],
                output_modalities=[gateway_pb2.MODALITY_TEXT],
            )
        )
    )
    async with grpc.aio.insecure_channel(started["engine_url"]) as channel:
        call = gateway_pb2_grpc.GatewayServiceStub(channel).Converse(
            requests(),
            metadata=(("authorization", f"Bearer {started['engine_token']}"),),
            timeout=120,
        )
        async for response in call:
            kind = response.WhichOneof("response")
            if kind == "ready":
                await queue.put(gateway_pb2.ConverseRequest(text=gateway_pb2.TextInput(text=text)))
            elif kind == "turn_event" and response.turn_event.type in (
                gateway_pb2.TURN_EVENT_TYPE_COMPLETED,
                gateway_pb2.TURN_EVENT_TYPE_FAILED,
            ):
                await queue.put(None)
