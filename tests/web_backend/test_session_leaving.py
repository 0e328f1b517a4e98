"""A student who leaves (their stream closed, no reconnect within the gateway's grace) shows as
ended in the admin's list: web_backend learns it from the turn watch it already follows
(issue 21 item 9)."""

from __future__ import annotations

import asyncio

import pytest

from tests.gateway.conftest import gateway_settings, start_gateway
from tests.web_backend.conftest import Backend, Tenant
from tests.web_backend.engine import engine_stream
from tests.web_backend.test_sessions_chat_documents import backend_at, make_tutor

pytestmark = pytest.mark.integration


def mine(listed: list[dict[str, object]], session_id: str) -> dict[str, object]:
    return next(s for s in listed if s["id"] == session_id)


async def test_a_student_who_leaves_is_ended_in_the_admins_list(
    backend: Backend, tenants: tuple[Tenant, Tenant]
) -> None:
    alpha, _ = tenants
    settings = gateway_settings(
        llm_address=backend.stack.llm.address, disconnect_grace_s=0.5, sweep_interval_s=0.1
    )
    async for gateway in start_gateway(settings):
        async with backend_at(backend, gateway.address) as other:
            tutor = await make_tutor(other, alpha)
            started = await other.client.post(
                f"/api/tutors/{tutor['id']}/sessions", headers=alpha.student_headers
            )
            assert started.status_code == 201, started.text
            body = started.json()
            session_id = body["session"]["id"]
            async with engine_stream(body) as engine:
                await engine.ask("what is the water cycle")

            # Right after the student left the session is still live (a reload may come back).
            listed = (await other.client.get("/api/sessions", headers=alpha.admin_headers)).json()
            assert mine(listed, session_id)["state"] == "active"
            for _ in range(200):
                listed = (
                    await other.client.get("/api/sessions", headers=alpha.admin_headers)
                ).json()
                if mine(listed, session_id)["state"] == "ended":
                    break
                await asyncio.sleep(0.05)
            assert mine(listed, session_id)["state"] == "ended"
            assert mine(listed, session_id)["ended_at"]
