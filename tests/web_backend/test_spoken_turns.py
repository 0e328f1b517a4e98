"""A spoken question in a live session with video, through the real stack: the turn the
backend stores carries every stage's latency, from the end of speech to the first frame."""

from __future__ import annotations

import shutil
from pathlib import Path

import grpc
import pytest
from vtutor.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from tests.gateway.gateway_client import ConverseStream, converse_config, finished_turn
from tests.support.speech import chunks, espeak_pcm, silence_pcm
from tests.web_backend.conftest import Backend, Tenant
from tests.web_backend.test_sessions_chat_documents import wait_for_turns

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SPEECH = (
    gateway_pb2.MODALITY_TEXT,
    gateway_pb2.MODALITY_AUDIO,
    gateway_pb2.MODALITY_VIDEO,
)


@pytest.fixture
def database_url(tmp_path: Path, migrated_sqlite: Path) -> str:
    """SQLite only: the turn's storage is covered on both databases by the typed turns."""
    path = tmp_path / "backend.sqlite3"
    shutil.copyfile(migrated_sqlite, path)
    return f"sqlite:///{path}"


async def test_spoken_turn_is_stored_with_its_stage_latencies(
    backend: Backend, tenants: tuple[Tenant, Tenant]
) -> None:
    alpha, _ = tenants
    tutor = (
        await backend.client.post(
            "/api/tutors",
            json={"name": "Ada", "video_enabled": True},
            headers=alpha.admin_headers,
        )
    ).json()
    started = (
        await backend.client.post(
            f"/api/tutors/{tutor['id']}/sessions", headers=alpha.student_headers
        )
    ).json()
    async with grpc.aio.insecure_channel(started["engine_url"]) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        config = converse_config(started["gateway_session_id"], modalities=SPEECH)
        stream = ConverseStream.open(stub, started["engine_token"], config)
        try:
            await stream.read_until(lambda r: r.HasField("ready"), timeout_s=30)
            speech = espeak_pcm("what is two plus two") + silence_pcm(1200)
            await stream.stream_audio(chunks(speech))
            seen = await stream.read_until(finished_turn, timeout_s=60)
        finally:
            stream.close()
            stream.call.cancel()
    assert seen[-1].turn_event.type == gateway_pb2.TURN_EVENT_TYPE_COMPLETED, seen[-5:]
    assert any(r.HasField("media_frame") for r in seen)
    detail = await wait_for_turns(backend, alpha.admin_headers, started["session"]["id"], 1)
    (turn,) = detail["turns"]
    assert turn["user_text"] and turn["assistant_text"]
    latency = turn["latency_ms"]
    assert set(latency) >= {
        "asr",
        "first_token",
        "first_audio",
        "first_frame",
        "speech_end_to_first_frame",
        "total",
    }, latency
    assert latency["speech_end_to_first_frame"] >= latency["first_frame"]
