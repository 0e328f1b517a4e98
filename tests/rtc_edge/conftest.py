"""Fixtures: coturn on free ports, a scripted gateway, and an in-process edge in front of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from aiohttp import web
from vtutor.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from rtc_edge.app import STATE, EdgeState, build_app
from rtc_edge.config import EdgeSettings
from rtc_edge.turn_server import CoturnServer
from svc_core.server import ServiceBinding
from tests.rtc_edge.scripted_gateway import ScriptedGateway, ScriptedSession
from tests.support.grpc_servers import running_server

SESSION_ID = "s-1"
TOKEN = "good-token"
API_KEY = "scripted-api-key"


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
class RunningGatewayDouble:
    """The scripted gateway's servicer and address."""

    servicer: ScriptedGateway
    address: str


@pytest.fixture
async def scripted_gateway() -> AsyncIterator[RunningGatewayDouble]:
    """A ScriptedGateway knowing session SESSION_ID with token TOKEN."""
    servicer = ScriptedGateway({SESSION_ID: ScriptedSession(token=TOKEN)}, api_key=API_KEY)
    binding = ServiceBinding.of(servicer, gateway_pb2_grpc, gateway_pb2)
    async with running_server([binding]) as server:
        yield RunningGatewayDouble(servicer, server.address)


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
        "gateway_ready_timeout_s": 5.0,
        "connect_timeout_s": 20.0,
    }
    values.update(overrides)
    return EdgeSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def edge(
    scripted_gateway: RunningGatewayDouble, coturn: CoturnServer
) -> AsyncIterator[RunningEdge]:
    """An edge in front of the scripted gateway, relaying through coturn."""
    async with start_edge(edge_settings(scripted_gateway.address, coturn)) as running:
        yield running


# The gateway's fixtures (its services as child processes, an in-process gateway), reused.
from tests.gateway.conftest import (  # noqa: E402
    asr_service,
    bare_gateway,
    full_gateway,
    lipsync_service,
    llm_service,
    tts_service,
)

__all__ = [
    "asr_service",
    "bare_gateway",
    "full_gateway",
    "lipsync_service",
    "llm_service",
    "tts_service",
]
