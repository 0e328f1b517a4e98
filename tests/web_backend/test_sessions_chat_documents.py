"""Live sessions (turns persisted as they complete), text chat (JSON and SSE), knowledge docs,
all through the real gateway stack; a gateway that is down or full is a real one too."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from vtutor.gateway.v1 import gateway_pb2

from tests.gateway.conftest import gateway_settings, start_gateway
from tests.support.real_stack import closed_address
from tests.web_backend.conftest import Backend, Tenant, running_backend
from tests.web_backend.engine import engine_stream
from tests.web_backend.media import text_pdf
from web_backend.app.core.gateway import GatewayError

pytestmark = pytest.mark.integration


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "rtc_edge_url": "https://edge.example.test/",
        "turn_urls": ["turn:turn.example.test:3478?transport=udp"],
        "turn_secret": "coturn-shared-secret",
        "stun_urls": ["stun:turn.example.test:3478"],
        "ice_relay_only": True,
        "max_document_bytes": 4096,
    }


async def make_tutor(backend: Backend, tenant: Tenant) -> dict[str, Any]:
    response = await backend.client.post(
        "/api/tutors",
        json={"name": "Ada", "system_prompt": "Teach."},
        headers=tenant.admin_headers,
    )
    return response.json()


@asynccontextmanager
async def backend_at(backend: Backend, address: str) -> AsyncIterator[Backend]:
    """A second backend on the same database and secrets whose gateway is at ``address``."""
    settings = backend.settings.model_copy(update={"gateway_address": address})
    async with running_backend(settings, backend.stack) as other:
        yield other


async def ask(backend: Backend, tenant: Tenant, tutor: dict[str, Any], text: str) -> str:
    """The real tutor's JSON chat answer to ``text``."""
    response = await backend.client.post(
        f"/api/tutors/{tutor['id']}/chat", json={"text": text}, headers=tenant.student_headers
    )
    assert response.status_code == 200, response.text
    answer: str = response.json()["turn"]["assistant_text"]
    return answer


async def wait_for_turns(
    backend: Backend, headers: dict[str, str], session_id: str, count: int
) -> dict[str, Any]:
    for _ in range(1000):
        detail = (await backend.client.get(f"/api/sessions/{session_id}", headers=headers)).json()
        if len(detail["turns"]) >= count:
            return detail
        await asyncio.sleep(0.02)
    raise AssertionError("turns were not stored")


async def test_live_session_start_turns_and_end(
    backend: Backend, tenants: tuple[Tenant, Tenant]
) -> None:
    alpha, _ = tenants
    tutor = await make_tutor(backend, alpha)
    started = await backend.client.post(
        f"/api/tutors/{tutor['id']}/sessions", headers=alpha.student_headers
    )
    assert started.status_code == 201, started.text
    body = started.json()
    gateway_id = body["gateway_session_id"]
    # The gateway holds the session the backend asked for.
    held = await backend.stack.get_session(gateway_id)
    assert held.tutor.system_prompt == "Teach."
    # No document yet, so no knowledge base to name (the LLM's fallback answers).
    assert held.tutor.knowledge_base_id == ""
    assert held.tutor.tutor_id == tutor["id"]
    assert held.student_id == alpha.student_id
    assert held.tenant_id == alpha.id
    assert held.state == gateway_pb2.SESSION_STATE_READY
    assert body["engine_url"] == held.engine_url
    assert body["edge_url"] == "https://edge.example.test"
    assert body["signaling_url"] == f"https://edge.example.test/v1/sessions/{gateway_id}/offer"
    assert body["student_page_url"].startswith("https://edge.example.test/#session_id=")
    assert body["engine_token"] in body["student_page_url"].split("#", 1)[1]
    ice = body["ice"]
    assert ice["iceTransportPolicy"] == "relay"
    turn = ice["iceServers"][1]
    assert turn["urls"] == ["turn:turn.example.test:3478?transport=udp"]
    assert turn["username"].endswith(f":{alpha.student_id}") and turn["credential"]

    session_id = body["session"]["id"]
    # The engine token works: two typed turns over Converse, as the edge would send them.
    async with engine_stream(body) as engine:
        first = await engine.ask("what is two plus two")
        second = await engine.ask("what is the water cycle")
        answers = [engine.answer(first.turn_id), engine.answer(second.turn_id)]
        detail = await wait_for_turns(backend, alpha.admin_headers, session_id, 2)
    assert [t["user_text"] for t in detail["turns"]] == [
        "what is two plus two",
        "what is the water cycle",
    ]
    assert [t["assistant_text"] for t in detail["turns"]] == answers
    assert all(answers)
    assert [t["turn_index"] for t in detail["turns"]] == [0, 1]
    first_turn = detail["turns"][0]
    assert first_turn["latency_ms"]["first_token"] >= 0
    assert first_turn["latency_ms"]["total"] >= first_turn["latency_ms"]["first_token"]

    ended = await backend.client.post(
        f"/api/sessions/{session_id}/end", headers=alpha.student_headers
    )
    assert ended.json()["state"] == "ended"
    assert (await backend.stack.get_session(gateway_id)).state == gateway_pb2.SESSION_STATE_ENDED
    again = await backend.client.post(
        f"/api/sessions/{session_id}/end", headers=alpha.student_headers
    )
    assert again.status_code == 200
    listed = (await backend.client.get("/api/sessions", headers=alpha.admin_headers)).json()
    assert [s["id"] for s in listed] == [session_id]


async def test_turn_watch_resumes_after_restart(
    backend: Backend, tenants: tuple[Tenant, Tenant]
) -> None:
    """Turns completed while no watcher ran are stored once a new one starts, none twice."""
    alpha, _ = tenants
    tutor = await make_tutor(backend, alpha)
    body = (
        await backend.client.post(
            f"/api/tutors/{tutor['id']}/sessions", headers=alpha.student_headers
        )
    ).json()
    session_id = body["session"]["id"]
    async with engine_stream(body) as engine:
        await engine.ask("what is two plus two")
        await wait_for_turns(backend, alpha.admin_headers, session_id, 1)
        recorder = backend.app.state.ctx.turn_recorder
        await recorder.stop()  # as if the backend died
        await engine.ask("what is photosynthesis")
        assert recorder.resume_all() == 1
        detail = await wait_for_turns(backend, alpha.admin_headers, session_id, 2)
    assert [t["turn_index"] for t in detail["turns"]] == [0, 1]
    assert [t["user_text"] for t in detail["turns"]] == [
        "what is two plus two",
        "what is photosynthesis",
    ]


async def test_gateway_down_or_full_maps_to_http(
    backend: Backend, tenants: tuple[Tenant, Tenant]
) -> None:
    alpha, _ = tenants
    tutor = await make_tutor(backend, alpha)
    path = f"/api/tutors/{tutor['id']}/sessions"
    # Nothing listens at the gateway's address: UNAVAILABLE, 503.
    async with backend_at(backend, closed_address()) as down:
        response = await down.client.post(path, headers=alpha.student_headers)
        assert response.status_code == 503, response.text
        assert response.json()["gateway_status"] == "UNAVAILABLE"
    # A real gateway holding as many sessions as it may: RESOURCE_EXHAUSTED, 429.
    settings = gateway_settings(max_sessions=1, llm_address=backend.stack.llm.address)
    async for full_gateway in start_gateway(settings):
        async with backend_at(backend, full_gateway.address) as full:
            assert (await full.client.post(path, headers=alpha.student_headers)).status_code == 201
            response = await full.client.post(path, headers=alpha.student_headers)
            assert response.status_code == 429, response.text
            assert response.json()["gateway_status"] == "RESOURCE_EXHAUSTED"
    listed = (await backend.client.get("/api/sessions", headers=alpha.admin_headers)).json()
    assert len(listed) == 1  # only the session the gateway granted


async def test_wrong_gateway_key_is_a_bad_gateway(
    backend: Backend, tenants: tuple[Tenant, Tenant]
) -> None:
    alpha, _ = tenants
    backend.app.state.ctx.gateway._metadata = (("authorization", "Bearer wrong"),)
    response = await backend.client.get("/api/catalog", headers=alpha.admin_headers)
    assert response.status_code == 502 and response.json()["gateway_status"] == "UNAUTHENTICATED"


async def test_catalog(backend: Backend, tenants: tuple[Tenant, Tenant]) -> None:
    alpha, _ = tenants
    catalog = (await backend.client.get("/api/catalog", headers=alpha.admin_headers)).json()
    voices = [v["name"] for v in catalog["voices"]]
    assert catalog["default_voice"] in voices and "en-us" in voices
    assert catalog["models"][0]["name"] == "retrieval"
    assert catalog["default_model"] == "retrieval"


async def test_chat_saves_turns_with_history(
    backend: Backend, tenants: tuple[Tenant, Tenant], monkeypatch: pytest.MonkeyPatch
) -> None:
    alpha, _ = tenants
    tutor = await make_tutor(backend, alpha)
    indexed = await backend.client.post(
        f"/api/tutors/{tutor['id']}/documents",
        files=[("files", ("cells.txt", b"A cell is the smallest unit of life.", "text/plain"))],
        headers=alpha.admin_headers,
    )
    assert indexed.status_code == 201, indexed.text
    # What the backend sends to the gateway (the call itself goes through unchanged).
    sent: list[dict[str, Any]] = []
    real_chat = backend.gateway.chat

    def recording_chat(**kwargs: Any) -> Any:
        sent.append(kwargs)
        return real_chat(**kwargs)

    monkeypatch.setattr(backend.gateway, "chat", recording_chat)
    path = f"/api/tutors/{tutor['id']}/chat"
    first = await backend.client.post(
        path, json={"text": "What is a cell?"}, headers=alpha.student_headers
    )
    assert first.status_code == 200, first.text
    session_id = first.json()["session_id"]
    # The real retrieval LLM answered from the tutor's own document.
    assert first.json()["turn"]["assistant_text"] == "A cell is the smallest unit of life."
    second = await backend.client.post(
        path,
        json={"text": "And a tissue?", "session_id": session_id},
        headers=alpha.student_headers,
    )
    assert second.status_code == 200, second.text
    assert second.json()["turn"]["turn_index"] == 1
    history = sent[-1]["history"]
    assert list(history) == [
        ("user", "What is a cell?"),
        ("assistant", "A cell is the smallest unit of life."),
    ]
    assert sent[-1]["tutor"].system_prompt == "Teach."
    assert sent[-1]["tutor"].knowledge_base_id == tutor["knowledge_base_id"]
    detail = (
        await backend.client.get(f"/api/sessions/{session_id}", headers=alpha.admin_headers)
    ).json()
    assert detail["kind"] == "chat" and [t["turn_index"] for t in detail["turns"]] == [0, 1]
    assert detail["turns"][0]["latency_ms"]["first_token"] >= 0
    assert "speech_end_to_first_frame" not in detail["turns"][0]["latency_ms"]
    too_long = await backend.client.post(
        path, json={"text": "x" * 4001}, headers=alpha.student_headers
    )
    assert too_long.status_code == 422
    empty = await backend.client.post(path, json={"text": ""}, headers=alpha.student_headers)
    assert empty.status_code == 422


async def test_chat_stream_sends_deltas_then_the_turn(
    backend: Backend, tenants: tuple[Tenant, Tenant]
) -> None:
    alpha, _ = tenants
    tutor = await make_tutor(backend, alpha)
    response = await backend.client.post(
        f"/api/tutors/{tutor['id']}/chat/stream",
        json={"text": "Hi there"},
        headers=alpha.student_headers,
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    events = []
    for block in response.text.strip().split("\n\n"):
        kind, data = block.split("\n")
        events.append((kind.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "session" and kinds[-1] == "turn"
    assert set(kinds[1:-1]) == {"delta"} and len(kinds) > 3
    text = "".join(data["text"] for kind, data in events if kind == "delta")
    assert text == events[-1][1]["assistant_text"]
    session_id = events[0][1]["session_id"]
    detail = (
        await backend.client.get(f"/api/sessions/{session_id}", headers=alpha.student_headers)
    ).json()
    assert detail["turns"][0]["assistant_text"] == text

    async with backend_at(backend, closed_address()) as down:
        failed = await down.client.post(
            f"/api/tutors/{tutor['id']}/chat/stream",
            json={"text": "again"},
            headers=alpha.student_headers,
        )
    assert "event: error" in failed.text and '"status": 503' in failed.text


async def test_documents_upload_list_delete(
    backend: Backend, tenants: tuple[Tenant, Tenant]
) -> None:
    alpha, _ = tenants
    tutor = await make_tutor(backend, alpha)
    path = f"/api/tutors/{tutor['id']}/documents"
    kb = tutor["knowledge_base_id"]
    uploaded = await backend.client.post(
        path,
        files=[
            ("files", ("cells.txt", b"Cells are the units of life.", "text/plain")),
            ("files", ("notes.md", b"# Tissues\nGroups of cells.", "text/markdown")),
            (
                "files",
                ("leaf.pdf", text_pdf("Photosynthesis makes sugar in leaves."), "application/pdf"),
            ),
        ],
        headers=alpha.admin_headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["document_count"] == 3
    # Each document's text reached the real knowledge base: the tutor answers from it.
    assert "Cells are the units of life." in await ask(backend, alpha, tutor, "units of life")
    assert "Groups of cells." in await ask(backend, alpha, tutor, "what are tissues")
    leaf = await ask(backend, alpha, tutor, "what makes sugar in leaves")
    assert "Photosynthesis makes sugar in leaves." in leaf  # the PDF's text layer
    docs = (await backend.client.get(path, headers=alpha.admin_headers)).json()
    assert [d["content_type"] for d in docs] == ["text/plain", "text/markdown", "application/pdf"]
    assert {d["title"] for d in docs} == {"cells", "notes", "leaf"}
    deleted = await backend.client.delete(f"{path}/{docs[0]['id']}", headers=alpha.admin_headers)
    assert deleted.status_code == 204
    assert len((await backend.client.get(path, headers=alpha.admin_headers)).json()) == 2
    # The knowledge base now holds the other two alone.
    assert "units of life" not in await ask(backend, alpha, tutor, "units of life")
    assert "Groups of cells." in await ask(backend, alpha, tutor, "what are tissues")
    await backend.gateway.delete_knowledge_base(kb)  # exists, with what was left


@pytest.mark.parametrize(
    ("filename", "data", "status"),
    [
        ("big.txt", b"a" * 5000, 413),
        ("image.png", b"\x89PNG\r\n\x1a\n", 415),
        ("latin1.txt", "café".encode("latin-1"), 422),
        ("binary.txt", b"abc\x00def", 422),
        ("blank.md", b"   \n", 422),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", 422),
    ],
)
async def test_bad_documents_index_nothing(
    backend: Backend, tenants: tuple[Tenant, Tenant], filename: str, data: bytes, status: int
) -> None:
    alpha, _ = tenants
    tutor = await make_tutor(backend, alpha)
    response = await backend.client.post(
        f"/api/tutors/{tutor['id']}/documents",
        files=[("files", ("ok.txt", b"fine", "text/plain")), ("files", (filename, data, "x/y"))],
        headers=alpha.admin_headers,
    )
    assert response.status_code == status, response.text
    # Nothing was indexed: the gateway has no knowledge base for this tutor.
    with pytest.raises(GatewayError) as missing:
        await backend.gateway.delete_knowledge_base(tutor["knowledge_base_id"])
    assert missing.value.http_status == 404
    assert (
        await backend.client.get(
            f"/api/tutors/{tutor['id']}/documents", headers=alpha.admin_headers
        )
    ).json() == []


async def test_indexing_failure_records_nothing(
    backend: Backend, tenants: tuple[Tenant, Tenant]
) -> None:
    alpha, _ = tenants
    tutor = await make_tutor(backend, alpha)
    async with backend_at(backend, closed_address()) as down:
        response = await down.client.post(
            f"/api/tutors/{tutor['id']}/documents",
            files=[("files", ("ok.txt", b"fine", "text/plain"))],
            headers=alpha.admin_headers,
        )
    assert response.status_code == 503
    assert (
        await backend.client.get(
            f"/api/tutors/{tutor['id']}/documents", headers=alpha.admin_headers
        )
    ).json() == []
