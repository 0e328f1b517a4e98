"""Fixtures: coturn on free ports, sessions on the shared real gateway stack (tests/conftest.py),
and an in-process edge in front of that gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from aiohttp import web
from vtutor.gateway.v1 import gateway_pb2

from loadtest.turn_server import CoturnServer
from rtc_edge.app import STATE, EdgeState, build_app
from rtc_edge.config import EdgeSettings
from tests.support.real_stack import API_KEY, SERVICE_AUTH, RealStack

# What the student asks in these tests, and what the demo knowledge base answers.
QUESTION = "what is two plus two"
ANSWER = "Two plus two is four"  # within a passage of about 40 words
LONG_QUESTION = "what are the planets"  # answered with another such passage

TUTOR = gateway_pb2.TutorProfile(
    tutor_id="edge-tutor",
    display_name="Ada",
    system_prompt="You are a friendly maths and science tutor.",
    language_code="en-US",
    video_enabled=True,
    phrase_hints=[QUESTION, LONG_QUESTION, "what is photosynthesis"],
)


@pytest.fixture(scope="session")
def coturn() -> Iterator[CoturnServer]:
    """A TURN server for the whole test session."""
    server = CoturnServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class LiveSession:
    """A session the real gateway granted: its id and engine token."""

    session_id: str
    token: str


async def create_live_session(
    stack: RealStack, student: str = "student-1", ttl_seconds: int = 0
) -> LiveSession:
    """Creates a session with the video tutor on the real gateway (as the backend would)."""
    async with stack.stub() as stub:
        response = await stub.CreateSession(
            gateway_pb2.CreateSessionRequest(
                tenant_id="edge-tests", student_id=student, tutor=TUTOR, ttl_seconds=ttl_seconds
            ),
            metadata=SERVICE_AUTH,
        )
    return LiveSession(response.session.session_id, response.engine_token)


@pytest.fixture
async def live_session(real_stack: RealStack) -> LiveSession:
    """A fresh session on the shared gateway."""
    return await create_live_session(real_stack)


async def session_state(stack: RealStack, session: LiveSession) -> int:
    """The gateway's state of the session (READY, CONNECTED while a Converse stream is open)."""
    return int((await stack.get_session(session.session_id)).state)


@dataclass
class RunningEdge:
    """An edge served on a free loopback port."""

    url: str
    state: EdgeState


@asynccontextmanager
async def start_edge(settings: EdgeSettings) -> AsyncIterator[RunningEdge]:
    """Serves an edge app on 127.0.0.1 (port chosen by the OS) for one test."""
    app = build_app(settings)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield RunningEdge(f"http://127.0.0.1:{port}", app[STATE])
    finally:
        await runner.cleanup()


def edge_settings(
    gateway_address: str, coturn: CoturnServer | None, **overrides: object
) -> EdgeSettings:
    """Settings of a test edge in front of ``gateway_address``, relaying through ``coturn``."""
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": 0,
        "gateway_address": gateway_address,
        "gateway_api_key": API_KEY,
        "turn_secret": coturn.secret if coturn else "unused",
        "turn_urls": [coturn.url] if coturn else [],
        "relay_only": True,
        "host_candidate_ip": "127.0.0.1",
        "gateway_ready_timeout_s": 10.0,
        "connect_timeout_s": 20.0,
    }
    values.update(overrides)
    return EdgeSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def edge(real_stack: RealStack, coturn: CoturnServer) -> AsyncIterator[RunningEdge]:
    """An edge in front of the shared real gateway, relaying through coturn."""
    async with start_edge(edge_settings(real_stack.address, coturn)) as running:
        yield running


# In-process gateways over the shared services, for tests that look inside the gateway.
from tests.gateway.conftest import bare_gateway  # noqa: E402

__all__ = ["bare_gateway"]
