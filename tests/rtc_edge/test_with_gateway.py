"""The edge in front of an in-process real gateway (tests/gateway's fixtures), where the tests
look inside it: wrong, expired and ended tokens (offer and ICE servers), and the conversation
freed on leaving.

The spoken turn end to end, through the shared real stack, is in test_media.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import grpc
import pytest
from vtutor.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from loadtest.student_probe import StudentProbe
from loadtest.turn_server import CoturnServer
from tests.gateway.conftest import API_KEY, RunningGateway
from tests.gateway.gateway_client import SERVICE_AUTH, create_session
from tests.rtc_edge.conftest import RunningEdge, edge_settings, start_edge
from tests.rtc_edge.test_media import eventually

FAKE_OFFER = {"type": "offer", "sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"}


@pytest.fixture
async def gateway_stub(
    bare_gateway: RunningGateway,
) -> AsyncIterator[gateway_pb2_grpc.GatewayServiceStub]:
    async with grpc.aio.insecure_channel(bare_gateway.address) as channel:
        yield gateway_pb2_grpc.GatewayServiceStub(channel)


@pytest.fixture
async def edge_on_bare_gateway(
    bare_gateway: RunningGateway, coturn: CoturnServer
) -> AsyncIterator[RunningEdge]:
    settings = edge_settings(bare_gateway.address, coturn, gateway_api_key=API_KEY)
    async with start_edge(settings) as running:
        yield running


async def _offer_status(edge: RunningEdge, session_id: str, token: str) -> int:
    async with aiohttp.ClientSession() as http:
        url = f"{edge.url}/v1/sessions/{session_id}/offer"
        headers = {"Authorization": f"Bearer {token}"}
        async with http.post(url, json=FAKE_OFFER, headers=headers) as response:
            return response.status


async def _ice_status(edge: RunningEdge, session_id: str, token: str) -> int:
    """The status of GET /v1/ice-servers; a refusal must carry no credentials."""
    async with aiohttp.ClientSession() as http:
        url = f"{edge.url}/v1/ice-servers?session_id={session_id}"
        headers = {"Authorization": f"Bearer {token}"}
        async with http.get(url, headers=headers) as response:
            if response.status != 200:
                assert "iceServers" not in await response.json()
            return response.status


@pytest.mark.integration
async def test_real_gateway_tokens_wrong_expired_ended_are_401(
    edge_on_bare_gateway: RunningEdge, gateway_stub: gateway_pb2_grpc.GatewayServiceStub
) -> None:
    edge = edge_on_bare_gateway
    live = await create_session(gateway_stub)
    assert await _ice_status(edge, live.session.session_id, live.engine_token) == 200
    for status in (_offer_status, _ice_status):
        assert await status(edge, live.session.session_id, "not-the-token") == 401
        assert await status(edge, "no-such-session", live.engine_token) == 401

    short = await create_session(gateway_stub, student="student-2", ttl_seconds=1)
    await asyncio.sleep(1.5)
    assert await _offer_status(edge, short.session.session_id, short.engine_token) == 401
    assert await _ice_status(edge, short.session.session_id, short.engine_token) == 401

    ended = await create_session(gateway_stub, student="student-3")
    await gateway_stub.EndSession(
        gateway_pb2.EndSessionRequest(session_id=ended.session.session_id), metadata=SERVICE_AUTH
    )
    assert await _offer_status(edge, ended.session.session_id, ended.engine_token) == 401
    assert await _ice_status(edge, ended.session.session_id, ended.engine_token) == 401
    assert len(edge.state.peers) == 0


@pytest.mark.integration
async def test_real_gateway_accepts_a_good_token_and_frees_the_session(
    edge_on_bare_gateway: RunningEdge,
    gateway_stub: gateway_pb2_grpc.GatewayServiceStub,
    bare_gateway: RunningGateway,
) -> None:
    edge = edge_on_bare_gateway
    created = await create_session(gateway_stub)
    session_id = created.session.session_id
    student = StudentProbe(edge.url, session_id, created.engine_token)
    try:
        assert await student.connect() == 200
        await asyncio.wait_for(student.channel_open.wait(), 20)
        assert session_id in bare_gateway.servicer.conversations
        await student.close()
        await eventually(
            lambda: (
                len(edge.state.peers) == 0 and session_id not in bare_gateway.servicer.conversations
            ),
            timeout_s=10,
        )
    finally:
        await student.close()
