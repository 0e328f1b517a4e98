"""A live session's turn that fails in the gateway is stored as failed, with its status and
only what the student heard, through a real gateway whose TTS is down."""

from __future__ import annotations

import grpc
import pytest
from vtutor.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from tests.gateway.conftest import gateway_settings, start_gateway
from tests.gateway.gateway_client import ConverseStream, converse_config, finished_turn
from tests.web_backend.conftest import Backend, Tenant
from tests.web_backend.test_sessions_chat_documents import backend_at, make_tutor, wait_for_turns

pytestmark = pytest.mark.integration

SPOKEN_ANSWERS = (gateway_pb2.MODALITY_TEXT, gateway_pb2.MODALITY_AUDIO)


async def test_a_failed_turn_is_stored_as_failed_with_only_the_heard_text(
    backend: Backend, tenants: tuple[Tenant, Tenant]
) -> None:
    alpha, _ = tenants
    tutor = await make_tutor(backend, alpha)
    # The LLM answers (captions go out), but nothing can speak the answer: TTS is down.
    settings = gateway_settings(
        llm_address=backend.stack.llm.address, upstream_connect_timeout_s=0.5
    )
    async for gateway in start_gateway(settings):
        async with backend_at(backend, gateway.address) as other:
            started = (
                await other.client.post(
                    f"/api/tutors/{tutor['id']}/sessions", headers=alpha.student_headers
                )
            ).json()
            async with grpc.aio.insecure_channel(started["engine_url"]) as channel:
                stub = gateway_pb2_grpc.GatewayServiceStub(channel)
                config = converse_config(started["gateway_session_id"], modalities=SPOKEN_ANSWERS)
                stream = ConverseStream.open(stub, started["engine_token"], config)
                try:
                    await stream.read_until(lambda r: r.HasField("ready"), timeout_s=30)
                    stream.send_text("what is two plus two")
                    seen = await stream.read_until(finished_turn, timeout_s=30)
                finally:
                    stream.close()
                    stream.call.cancel()
            event = seen[-1].turn_event
            assert event.type == gateway_pb2.TURN_EVENT_TYPE_FAILED, seen[-3:]
            assert any(r.HasField("assistant_text") for r in seen)  # captions were shown
            detail = await wait_for_turns(other, alpha.admin_headers, started["session"]["id"], 1)
    (turn,) = detail["turns"]
    assert turn["outcome"] == "failed" and turn["failed"] and not turn["interrupted"]
    assert (turn["failure_code"], turn["failure_stage"]) == ("UNAVAILABLE", "tts")
    assert "tts" in turn["failure_message"]
    # No speech was played, so the student heard none of the answer.
    assert turn["assistant_text"] == ""
    assert turn["user_text"] == "what is two plus two"
