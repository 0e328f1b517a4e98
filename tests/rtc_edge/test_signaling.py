"""Signaling over HTTP in front of the real gateway: health, page, ICE servers, offer auth (401
before media), malformed offers, and a gateway that is down."""

from __future__ import annotations

import aiohttp
import pytest
from vtutor.gateway.v1 import gateway_pb2

from rtc_edge.student_probe import StudentProbe
from rtc_edge.turn_server import CoturnServer
from tests.rtc_edge.conftest import (
    LiveSession,
    RunningEdge,
    edge_settings,
    session_state,
    start_edge,
)
from tests.rtc_edge.test_media import eventually_state
from tests.support.real_stack import RealStack, closed_address

pytestmark = pytest.mark.integration

# Enough of an offer to pass the edge's own checks; the gateway sees the token first.
FAKE_OFFER = {"type": "offer", "sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"}
NO_MEDIA_OFFER = {"type": "offer", "sdp": "v=0\r\n"}


READY = gateway_pb2.SESSION_STATE_READY


async def test_health_and_page(edge: RunningEdge) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{edge.url}/health") as response:
            assert response.status == 200
            assert (await response.json())["peers"] == 0
        async with http.get(f"{edge.url}/") as response:
            assert response.status == 200
            page = await response.text()
            assert "/static/app.js" in page and 'id="tutor-video"' in page
        async with http.get(f"{edge.url}/static/app.js") as response:
            assert response.status == 200
            assert "RTCPeerConnection" in await response.text()


async def test_ice_servers_need_a_token_and_carry_turn_credentials(
    edge: RunningEdge, coturn: CoturnServer, live_session: LiveSession
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{edge.url}/v1/ice-servers") as response:
            assert response.status == 401
        headers = {"Authorization": f"Bearer {live_session.token}"}
        url = f"{edge.url}/v1/ice-servers?session_id={live_session.session_id}"
        async with http.get(url, headers=headers) as response:
            assert response.status == 200
            config = await response.json()
    assert config["iceTransportPolicy"] == "relay"
    (server,) = config["iceServers"]
    assert server["urls"] == [coturn.url]
    expiry, _, user = server["username"].partition(":")
    assert int(expiry) > 0 and user and live_session.session_id not in user


@pytest.mark.parametrize("token", ["wrong-token", ""])
async def test_bad_token_is_refused_before_any_media(
    edge: RunningEdge, real_stack: RealStack, live_session: LiveSession, token: str
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http:
        url = f"{edge.url}/v1/sessions/{live_session.session_id}/offer"
        async with http.post(url, json=FAKE_OFFER, headers=headers) as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"] == "Bearer"
    assert len(edge.state.peers) == 0
    assert await session_state(real_stack, live_session) == READY


async def test_unknown_session_is_refused(edge: RunningEdge, live_session: LiveSession) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{edge.url}/v1/sessions/nope/offer"
        headers = {"Authorization": f"Bearer {live_session.token}"}
        async with http.post(url, json=FAKE_OFFER, headers=headers) as response:
            assert response.status == 401


async def test_malformed_offer_is_400_and_frees_the_stream(
    edge: RunningEdge, real_stack: RealStack, live_session: LiveSession
) -> None:
    headers = {"Authorization": f"Bearer {live_session.token}"}
    url = f"{edge.url}/v1/sessions/{live_session.session_id}/offer"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=b"not json", headers=headers) as response:
            assert response.status == 400
        async with http.post(url, json=NO_MEDIA_OFFER, headers=headers) as response:
            assert response.status == 400  # no media section: refused before the gateway
        assert await session_state(real_stack, live_session) == READY
        broken = {"type": "offer", "sdp": "v=0\r\nm=audio nonsense\r\n"}
        async with http.post(url, json=broken, headers=headers) as response:
            assert response.status == 400  # aiortc cannot use it: the stream is closed again
    assert len(edge.state.peers) == 0
    # The Converse stream opened for it was closed: the gateway takes a new one.
    await eventually_state(real_stack, live_session, READY)
    student = StudentProbe(edge.url, live_session.session_id, live_session.token)
    try:
        assert await student.connect() == 200
    finally:
        await student.close()


async def test_close_without_a_peer_is_404(edge: RunningEdge, live_session: LiveSession) -> None:
    client = StudentProbe(edge.url, live_session.session_id, live_session.token)
    assert await client.close_via_edge() == 404


async def test_gateway_down_is_502(coturn: CoturnServer, live_session: LiveSession) -> None:
    settings = edge_settings(closed_address(), coturn, gateway_ready_timeout_s=2.0)
    async with start_edge(settings) as running:
        headers = {"Authorization": f"Bearer {live_session.token}"}
        async with aiohttp.ClientSession() as http:
            url = f"{running.url}/v1/sessions/{live_session.session_id}/offer"
            async with http.post(url, json=FAKE_OFFER, headers=headers) as response:
                assert response.status in (502, 504)
