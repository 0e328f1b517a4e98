"""The edge's HTTP side: student page, ICE servers, signaling (offer/close) and health."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import secrets
import time
from pathlib import Path
from typing import Any

import grpc
from aiohttp import web

from rtc_edge.config import DEV_TURN_SECRET, EdgeSettings, VideoFormat
from rtc_edge.gateway_link import (
    ClientIdentity,
    ConverseLink,
    GatewayRefused,
    StreamOptions,
    check_engine_token,
)
from rtc_edge.host_candidates import use_host_candidate_ip
from rtc_edge.idle_loop import IdleLoopCache, SharedIdleLoops
from rtc_edge.metrics import metrics_response
from rtc_edge.peer_session import PeerSession
from rtc_edge.peers import EdgeFull, PeerRegistry
from rtc_edge.security_headers import security_headers
from rtc_edge.turn_credentials import ice_configuration, make_turn_credential

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
MAX_SDP_BYTES = 64 * 1024


class EdgeState:
    """What the request handlers share: settings, the gateway channel, caches and peers."""

    def __init__(self, settings: EdgeSettings) -> None:
        self.settings = settings
        self.peers = PeerRegistry(settings.max_peers)
        self.channel: grpc.aio.Channel | None = None
        self.idle_loops: SharedIdleLoops | None = None

    def client_identity(self, request: web.Request) -> ClientIdentity:
        """The browser behind ``request``, for the gateway's limit on failed token checks
        (behind a reverse proxy, the address it reports)."""
        return ClientIdentity(
            address=request.remote or "",
            service_credential=self.settings.gateway_api_key.get_secret_value(),
        )

    async def start(self) -> None:
        """Opens the gateway channel (inside the event loop)."""
        self.channel = grpc.aio.insecure_channel(
            self.settings.gateway_address,
            options=[
                ("grpc.max_receive_message_length", self.settings.max_message_bytes),
                ("grpc.max_send_message_length", self.settings.max_message_bytes),
            ],
        )
        pictures = IdleLoopCache(
            self.channel,
            api_key=self.settings.gateway_api_key.get_secret_value(),
            max_frames=self.settings.idle_max_frames,
        )
        self.idle_loops = SharedIdleLoops(pictures)

    async def stop(self) -> None:
        """Closes every peer, then the channel."""
        await self.peers.close_all("the edge is shutting down")
        if self.channel is not None:
            await self.channel.close(grace=None)


STATE = web.AppKey("edge_state", EdgeState)


def _json_error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _unauthorized(message: str) -> web.Response:
    return _json_error(401, message, **{"WWW-Authenticate": "Bearer"})


async def health(request: web.Request) -> web.Response:
    """GET /health: 200 with the number of peers."""
    state = request.app[STATE]
    return web.json_response(
        {"status": "ok", "peers": len(state.peers), "max_peers": state.settings.max_peers}
    )


async def metrics(request: web.Request) -> web.Response:
    """GET /metrics: connected peers for Prometheus (the edge's autoscaling metric)."""
    state = request.app[STATE]
    return metrics_response(connected_peers=len(state.peers), max_peers=state.settings.max_peers)


def _refused(refused: GatewayRefused) -> web.Response:
    """The answer to a caller whose token the gateway refused (or that it could not check)."""
    if refused.http_status == 401:
        return _unauthorized("the session token is not valid (wrong, expired or ended)")
    return _json_error(refused.http_status, refused.message)


async def ice_servers(request: web.Request) -> web.Response:
    """GET /v1/ice-servers?session_id=...: TURN servers with short-lived REST credentials.

    The bearer token is checked with the gateway (CheckEngineToken) first, so only a student
    holding a valid engine token gets a relay; the credentials expire no later than the token.
    The TURN user is derived from the session id, so coturn's logs can be matched to sessions
    without carrying the id itself.
    """
    state = request.app[STATE]
    assert state.channel is not None
    token = _bearer(request)
    if token is None:
        return _unauthorized("send the session's engine token as 'Authorization: Bearer ...'")
    session_id = request.query.get("session_id", "")
    if not session_id:
        return _json_error(400, "session_id is required")
    try:
        token_expiry = await check_engine_token(
            state.channel,
            session_id,
            token,
            state.settings.gateway_ready_timeout_s,
            client=state.client_identity(request),
        )
    except GatewayRefused as refused:
        logger.info("ICE servers for session %s refused: %s", session_id, refused.http_status)
        return _refused(refused)
    now = time.time()
    ttl_s = min(state.settings.turn_ttl_s, math.floor(token_expiry - now))
    if ttl_s < 1:
        return _refused(GatewayRefused(401, "the session token has expired"))
    user = hashlib.sha256(session_id.encode()).hexdigest()[:16]
    credential = make_turn_credential(
        state.settings.turn_secret.get_secret_value(), user=user, ttl_s=ttl_s, now=now
    )
    config = ice_configuration(
        state.settings.turn_urls, credential, relay_only=state.settings.relay_only
    )
    return web.json_response(config, headers={"Cache-Control": "no-store"})


async def offer(request: web.Request) -> web.Response:
    """POST /v1/sessions/{session_id}/offer: SDP offer in, SDP answer out.

    The body is ``{"sdp": ..., "type": "offer"}``, optionally with ``"video": {"width": W,
    "height": H, "fps": F}`` for this session's picture (default: the edge's settings).
    The token is checked by opening the session's Converse stream and waiting for the
    gateway's `ready` before any peer connection exists: a refused token costs no media.
    """
    state = request.app[STATE]
    session_id = request.match_info["session_id"]
    token = _bearer(request)
    if token is None:
        return _unauthorized("send the session's engine token as 'Authorization: Bearer ...'")
    if request.content_length is not None and request.content_length > MAX_SDP_BYTES:
        return _json_error(413, "offer too large")
    try:
        body = await request.json()
    except ValueError:
        return _json_error(400, 'the body must be JSON: {"sdp": ..., "type": "offer"}')
    if not isinstance(body, dict) or body.get("type") != "offer" or not body.get("sdp"):
        return _json_error(400, 'the body must be JSON: {"sdp": ..., "type": "offer"}')
    if "m=" not in str(body["sdp"]):
        return _json_error(400, "the offer has no media or data channel")
    try:
        video = VideoFormat.parse(body.get("video"), state.settings)
    except ValueError as error:
        return _json_error(400, str(error))

    # The same student reconnecting (page reload) replaces their old peer: the gateway allows
    # one Converse per session.
    previous = state.peers.find(session_id, token)
    if previous is not None:
        await previous.close("replaced by a new connection")

    try:
        with state.peers.reserve():
            client = state.client_identity(request)
            return await _connect(state, session_id, token, body, video, client)
    except EdgeFull as full:
        return _json_error(503, str(full), **{"Retry-After": "5"})


async def _connect(
    state: EdgeState,
    session_id: str,
    token: str,
    body: dict[str, Any],
    video: VideoFormat,
    client: ClientIdentity,
) -> web.Response:
    assert state.channel is not None and state.idle_loops is not None
    settings = state.settings
    options = StreamOptions(
        session_id=session_id,
        video_fps=video.fps,
        video_width=video.width,
        video_height=video.height,
    )
    link = ConverseLink(state.channel, token, options, client)
    try:
        ready = await link.open(settings.gateway_ready_timeout_s)
    except GatewayRefused as refused:
        logger.info("offer for session %s refused: %s", session_id, refused.http_status)
        return _refused(refused)
    peer = PeerSession(
        peer_id=secrets.token_hex(8),
        link=link,
        ready=ready,
        token=token,
        settings=settings,
        idle_loops=state.idle_loops,
        on_closed=state.peers.remove,
        video=video,
    )
    state.peers.add(peer)
    try:
        answer = await peer.answer(str(body["sdp"]), "offer")
    except Exception as error:  # a malformed SDP surfaces as many exception types in aiortc
        logger.info("offer for session %s unusable: %s", session_id, error)
        await peer.close("bad offer")
        return _json_error(400, f"the SDP offer could not be used: {error}")
    logger.info("peer %s answered for session %s", peer.peer_id, session_id)
    return web.json_response(
        {
            "sdp": answer.sdp,
            "type": answer.type,
            "peer_id": peer.peer_id,
            "video": ready.video,
            "codecs": peer.codecs,
        }
    )


async def close(request: web.Request) -> web.Response:
    """POST /v1/sessions/{session_id}/close: ends the caller's peer now."""
    state = request.app[STATE]
    token = _bearer(request)
    if token is None:
        return _unauthorized("send the session's engine token as 'Authorization: Bearer ...'")
    peer = state.peers.find(request.match_info["session_id"], token)
    if peer is None:
        return _json_error(404, "no live connection for this session and token")
    await peer.close("closed by the student")
    return web.json_response({"closed": True, "peer_id": peer.peer_id})


async def index(request: web.Request) -> web.FileResponse:
    """GET /: the student page."""
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


def build_app(settings: EdgeSettings) -> web.Application:
    """The aiohttp application; the gateway channel opens when it starts."""
    app = web.Application(client_max_size=MAX_SDP_BYTES)
    app.on_response_prepare.append(security_headers(settings.frame_ancestors))
    state = EdgeState(settings)
    app[STATE] = state
    use_host_candidate_ip(settings.host_candidate_ip)
    if settings.turn_secret.get_secret_value() == DEV_TURN_SECRET and settings.host not in (
        "127.0.0.1",
        "localhost",
        "::1",
    ):
        logger.warning("RTC_TURN_SECRET is the development secret on a public address")

    async def on_startup(_: web.Application) -> None:
        await state.start()

    async def on_shutdown(_: web.Application) -> None:
        await asyncio.shield(state.stop())

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.router.add_get("/", index)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/ice-servers", ice_servers)
    app.router.add_post("/v1/sessions/{session_id}/offer", offer)
    app.router.add_post("/v1/sessions/{session_id}/close", close)
    app.router.add_static("/static/", STATIC_DIR, show_index=False)
    return app
