"""Signaling over HTTP in front of the real gateway: health, page, ICE servers (token checked
with the gateway), offer auth (401 before media), malformed offers, and a gateway that is down."""

from __future__ import annotations

import aiohttp
import pytest
from vtutor.gateway.v1 import gateway_pb2

from loadtest.student_probe import StudentProbe
from loadtest.turn_server import CoturnServer
from rtc_edge.turn_credentials import turn_password
from tests.rtc_edge.conftest import (
    LiveSession,
    RunningEdge,
    create_live_session,
    edge_settings,
    session_state,
    start_edge,
)
from tests.rtc_edge.test_media import eventually_state
from tests.support.real_stack import SERVICE_AUTH, RealStack, closed_address

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
        async with http.get(f"{edge.url}/metrics") as response:
            assert response.status == 200
            text = await response.text()
            assert "vtutor_rtc_edge_connected_peers 0\n" in text
            assert f"vtutor_rtc_edge_max_peers {edge.state.settings.max_peers}\n" in text


async def _ice_servers(edge_url: str, session_id: str, token: str) -> aiohttp.ClientResponse:
    """GET /v1/ice-servers (the body is read, so the response can be inspected after)."""
    async with aiohttp.ClientSession() as http:
        url = f"{edge_url}/v1/ice-servers?session_id={session_id}"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with http.get(url, headers=headers) as response:
            await response.read()
            return response


async def test_ice_servers_need_a_token_and_carry_turn_credentials(
    edge: RunningEdge, coturn: CoturnServer, live_session: LiveSession
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{edge.url}/v1/ice-servers") as response:
            assert response.status == 401
    response = await _ice_servers(edge.url, live_session.session_id, live_session.token)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    config = await response.json()
    assert config["iceTransportPolicy"] == "relay"
    (server,) = config["iceServers"]
    assert server["urls"] == [coturn.url]
    expiry, _, user = server["username"].partition(":")
    assert int(expiry) > 0 and user and live_session.session_id not in user
    assert server["credential"] == turn_password(coturn.secret, server["username"])


async def test_ice_credentials_expire_no_later_than_the_token(
    edge: RunningEdge, real_stack: RealStack
) -> None:
    # The token lives 120 s, far less than the edge's TURN TTL (3600 s by default).
    assert edge.state.settings.turn_ttl_s > 120
    session = await create_live_session(real_stack, "short-token", ttl_seconds=120)
    token_expiry = (await real_stack.get_session(session.session_id)).expire_time.seconds
    response = await _ice_servers(edge.url, session.session_id, session.token)
    assert response.status == 200
    config = await response.json()
    (server,) = config["iceServers"]
    expiry = int(server["username"].partition(":")[0])
    assert expiry == config["expiresAt"]
    assert expiry <= token_expiry


@pytest.mark.parametrize("token", ["wrong-token", "other-session"])
async def test_ice_servers_refuse_a_bad_token_with_no_credentials(
    edge: RunningEdge, real_stack: RealStack, live_session: LiveSession, token: str
) -> None:
    if token == "other-session":
        token = (await create_live_session(real_stack, "someone-else")).token
    response = await _ice_servers(edge.url, live_session.session_id, token)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    body = await response.json()
    assert set(body) == {"error"} and "not valid" in body["error"]
    unknown = await _ice_servers(edge.url, "no-such-session", live_session.token)
    assert unknown.status == 401
    assert "iceServers" not in await unknown.json()


async def test_ice_servers_refuse_an_ended_session(
    edge: RunningEdge, real_stack: RealStack, live_session: LiveSession
) -> None:
    async with real_stack.stub() as stub:
        await stub.EndSession(
            gateway_pb2.EndSessionRequest(session_id=live_session.session_id),
            metadata=SERVICE_AUTH,
        )
    response = await _ice_servers(edge.url, live_session.session_id, live_session.token)
    assert response.status == 401
    assert "iceServers" not in await response.json()


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
        # No credentials when the token cannot be checked.
        ice = await _ice_servers(running.url, live_session.session_id, live_session.token)
        assert ice.status in (502, 504)
        assert "iceServers" not in await ice.json()
