"""Live sessions (turns persisted as they complete), text chat (JSON and SSE), knowledge docs."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc
import pytest

from tests.web_backend.conftest import Backend, Tenant
from tests.web_backend.media import text_pdf

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


async def wait_for_turns(
    backend: Backend, headers: dict[str, str], session_id: str, count: int
) -> dict[str, Any]:
    for _ in range(200):
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
    fake_session = backend.fake.sessions[gateway_id]
    assert fake_session.request.tutor.system_prompt == "Teach."
    assert fake_session.request.tutor.knowledge_base_id == tutor["knowledge_base_id"]
    assert fake_session.request.student_id == alpha.student_id
    assert fake_session.request.tenant_id == alpha.id
    assert body["engine_token"] == fake_session.token
    assert body["edge_url"] == "https://edge.example.test"
    assert body["signaling_url"] == f"https://edge.example.test/v1/sessions/{gateway_id}/offer"
    assert body["student_page_url"].startswith("https://edge.example.test/#session_id=")
    assert fake_session.token in body["student_page_url"].split("#", 1)[1]
    ice = body["ice"]
    assert ice["iceTransportPolicy"] == "relay"
    turn = ice["iceServers"][1]
    assert turn["urls"] == ["turn:turn.example.test:3478?transport=udp"]
    assert turn["username"].endswith(f":{alpha.student_id}") and turn["credential"]

    session_id = body["session"]["id"]
    await backend.fake.add_turn(gateway_id, "what is two plus two", "Four.")
    await backend.fake.add_turn(gateway_id, "and three plus three", "Six.")
    detail = await wait_for_turns(backend, alpha.admin_headers, session_id, 2)
    assert [t["user_text"] for t in detail["turns"]] == [
        "what is two plus two",
        "and three plus three",
    ]
    first = detail["turns"][0]
    assert first["assistant_text"] == "Four."
    assert first["latency_ms"]["first_token"] == 100.0
    assert first["latency_ms"]["speech_end_to_first_frame"] == 500.0

    ended = await backend.client.post(
        f"/api/sessions/{session_id}/end", headers=alpha.student_headers
    )
    assert ended.json()["state"] == "ended" and fake_session.ended
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
    gateway_id, session_id = body["gateway_session_id"], body["session"]["id"]
    await backend.fake.add_turn(gateway_id, "one", "1")
    await wait_for_turns(backend, alpha.admin_headers, session_id, 1)
    recorder = backend.app.state.ctx.turn_recorder
    await recorder.stop()  # as if the backend died
    await backend.fake.add_turn(gateway_id, "two", "2")
    assert recorder.resume_all() == 1
    detail = await wait_for_turns(backend, alpha.admin_headers, session_id, 2)
    assert [t["turn_index"] for t in detail["turns"]] == [0, 1]


async def test_gateway_errors_map_to_http(backend: Backend, tenants: tuple[Tenant, Tenant]) -> None:
    alpha, _ = tenants
    tutor = await make_tutor(backend, alpha)
    path = f"/api/tutors/{tutor['id']}/sessions"
    for code, status in [
        (grpc.StatusCode.RESOURCE_EXHAUSTED, 429),
        (grpc.StatusCode.UNAVAILABLE, 503),
        (grpc.StatusCode.INVALID_ARGUMENT, 422),
        (grpc.StatusCode.NOT_FOUND, 404),
    ]:
        backend.fake.fail_next["CreateSession"] = code
        response = await backend.client.post(path, headers=alpha.student_headers)
        assert response.status_code == status, code
        assert response.json()["gateway_status"] == code.name
    assert (await backend.client.get("/api/sessions", headers=alpha.admin_headers)).json() == []


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
    assert catalog["default_voice"] == "en-us" and catalog["models"][0]["name"] == "retrieval"


async def test_chat_saves_turns_with_history(
    backend: Backend, tenants: tuple[Tenant, Tenant]
) -> None:
    alpha, _ = tenants
    tutor = await make_tutor(backend, alpha)
    path = f"/api/tutors/{tutor['id']}/chat"
    first = await backend.client.post(
        path, json={"text": "What is a cell?"}, headers=alpha.student_headers
    )
    assert first.status_code == 200, first.text
    session_id = first.json()["session_id"]
    assert first.json()["turn"]["assistant_text"].startswith("You asked: What is a cell?")
    second = await backend.client.post(
        path,
        json={"text": "And a tissue?", "session_id": session_id},
        headers=alpha.student_headers,
    )
    assert second.json()["turn"]["turn_index"] == 1
    history = backend.fake.chat_requests[-1].history
    assert history[0].content == "What is a cell?"
    assert len(history) == 2
    assert backend.fake.chat_requests[-1].tutor.system_prompt == "Teach."
    detail = (
        await backend.client.get(f"/api/sessions/{session_id}", headers=alpha.admin_headers)
    ).json()
    assert detail["kind"] == "chat" and [t["turn_index"] for t in detail["turns"]] == [0, 1]
    assert detail["turns"][0]["latency_ms"] == {"first_token": 2.0}
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

    backend.fake.fail_next["Chat"] = grpc.StatusCode.UNAVAILABLE
    failed = await backend.client.post(
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
    assert sorted(backend.fake.knowledge[kb].values())[0] == "# Tissues\nGroups of cells."
    assert "Photosynthesis makes sugar" in " ".join(backend.fake.knowledge[kb].values())
    docs = (await backend.client.get(path, headers=alpha.admin_headers)).json()
    assert [d["content_type"] for d in docs] == ["text/plain", "text/markdown", "application/pdf"]
    assert {d["title"] for d in docs} == {"cells", "notes", "leaf"}
    deleted = await backend.client.delete(f"{path}/{docs[0]['id']}", headers=alpha.admin_headers)
    assert deleted.status_code == 204
    assert set(backend.fake.knowledge[kb]) == {docs[1]["id"], docs[2]["id"]}
    assert len((await backend.client.get(path, headers=alpha.admin_headers)).json()) == 2


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
    assert backend.fake.knowledge == {}
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
    backend.fake.fail_next["IndexDocuments"] = grpc.StatusCode.UNAVAILABLE
    response = await backend.client.post(
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
