"""Signaling over HTTP: health, page, ICE servers, offer auth (401 before media), limits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import pytest

from rtc_edge.student_probe import StudentProbe
from rtc_edge.turn_server import CoturnServer
from tests.rtc_edge.conftest import SESSION_ID, TOKEN, RunningEdge, RunningGatewayDouble

pytestmark = pytest.mark.integration

# Enough of an offer to pass the edge's own checks; the gateway sees the token first.
FAKE_OFFER = {"type": "offer", "sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"}
NO_MEDIA_OFFER = {"type": "offer", "sdp": "v=0\r\n"}


async def _eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


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
    edge: RunningEdge, coturn: CoturnServer
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{edge.url}/v1/ice-servers") as response:
            assert response.status == 401
        headers = {"Authorization": f"Bearer {TOKEN}"}
        url = f"{edge.url}/v1/ice-servers?session_id={SESSION_ID}"
        async with http.get(url, headers=headers) as response:
            assert response.status == 200
            config = await response.json()
    assert config["iceTransportPolicy"] == "relay"
    (server,) = config["iceServers"]
    assert server["urls"] == [coturn.url]
    expiry, _, user = server["username"].partition(":")
    assert int(expiry) > 0 and user and SESSION_ID not in user


@pytest.mark.parametrize("token", ["wrong-token", ""])
async def test_bad_token_is_refused_before_any_media(
    edge: RunningEdge, scripted_gateway: RunningGatewayDouble, token: str
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http:
        url = f"{edge.url}/v1/sessions/{SESSION_ID}/offer"
        async with http.post(url, json=FAKE_OFFER, headers=headers) as response:
            assert response.status == 401
            assert response.headers["WWW-Authenticate"] == "Bearer"
    assert len(edge.state.peers) == 0
    assert scripted_gateway.servicer.sessions[SESSION_ID].streams_opened == 0


async def test_unknown_session_is_refused(edge: RunningEdge) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"{edge.url}/v1/sessions/nope/offer"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with http.post(url, json=FAKE_OFFER, headers=headers) as response:
            assert response.status == 401


async def test_malformed_offer_is_400_and_frees_the_stream(
    edge: RunningEdge, scripted_gateway: RunningGatewayDouble
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = f"{edge.url}/v1/sessions/{SESSION_ID}/offer"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=b"not json", headers=headers) as response:
            assert response.status == 400
        async with http.post(url, json=NO_MEDIA_OFFER, headers=headers) as response:
            assert response.status == 400  # no media section: refused before the gateway
        session = scripted_gateway.servicer.sessions[SESSION_ID]
        assert session.streams_opened == 0
        broken = {"type": "offer", "sdp": "v=0\r\nm=audio nonsense\r\n"}
        async with http.post(url, json=broken, headers=headers) as response:
            assert response.status == 400  # aiortc cannot use it: the stream is closed again
    assert len(edge.state.peers) == 0
    assert session.streams_opened == 1
    await _eventually(lambda: session.streams_closed == 1)


async def test_close_without_a_peer_is_404(edge: RunningEdge) -> None:
    client = StudentProbe(edge.url, SESSION_ID, TOKEN)
    assert await client.close_via_edge() == 404


async def test_gateway_down_is_502(coturn: CoturnServer) -> None:
    from tests.rtc_edge.conftest import edge_settings, start_edge

    settings = edge_settings("127.0.0.1:9", coturn, gateway_ready_timeout_s=2.0)
    async with start_edge(settings) as running:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with aiohttp.ClientSession() as http:
            url = f"{running.url}/v1/sessions/{SESSION_ID}/offer"
            async with http.post(url, json=FAKE_OFFER, headers=headers) as response:
                assert response.status in (502, 504)
