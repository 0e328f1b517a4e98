"""Fixtures: in-process gateways over the shared inference services (tests/conftest.py)."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from gateway.app import build_gateway
from gateway.config import GatewaySettings
from gateway.server import GatewayServicer
from svc_core.settings import ServiceSettings
from tests.support.grpc_servers import running_server
from tests.support.real_stack import API_KEY
from tests.support.service_process import ServiceProcess

__all__ = ["API_KEY"]


@dataclass
class RunningGateway:
    """An in-process gateway: its address and servicer (tests look at its conversations)."""

    address: str
    servicer: GatewayServicer
    settings: GatewaySettings


def gateway_settings(**overrides: object) -> GatewaySettings:
    """Settings for a test gateway; upstream addresses unreachable unless overridden."""
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": 0,
        "api_key": API_KEY,
        "grace_period_s": 0,
        # Each test gateway has its own session store file.
        "data_dir": tempfile.mkdtemp(prefix="gw-test-"),
        # Nothing listens on port 9 (discard): upstreams not given are down.
        "asr_address": "127.0.0.1:9",
        "llm_address": "127.0.0.1:9",
        "tts_address": "127.0.0.1:9",
        "lipsync_address": "127.0.0.1:9",
        "upstream_connect_timeout_s": 2.0,
        # Tests check order and content: send media as fast as it comes unless a test paces.
        "media_lead_ms": 0,
    }
    values.update(overrides)
    return GatewaySettings(**values)  # type: ignore[arg-type]


async def start_gateway(settings: GatewaySettings) -> AsyncIterator[RunningGateway]:
    """Runs a gateway in-process for the duration of a test."""
    servicer, bindings, startup, shutdown = build_gateway(settings)
    server_settings = ServiceSettings(host="127.0.0.1", port=0, grace_period_s=0)
    async with running_server(bindings, server_settings) as server:
        servicer.engine_url = server.address
        await startup()
        try:
            yield RunningGateway(server.address, servicer, settings)
        finally:
            await shutdown()


@pytest.fixture
async def bare_gateway() -> AsyncIterator[RunningGateway]:
    """A gateway whose upstreams are all down (control plane and auth tests)."""
    async for gateway in start_gateway(gateway_settings()):
        yield gateway


@pytest.fixture
async def text_gateway(llm_service: ServiceProcess) -> AsyncIterator[RunningGateway]:
    """A gateway with only the LLM behind it (text turns, Chat)."""
    async for gateway in start_gateway(gateway_settings(llm_address=llm_service.address)):
        yield gateway


@pytest.fixture
async def speech_gateway(
    llm_service: ServiceProcess, tts_service: ServiceProcess
) -> AsyncIterator[RunningGateway]:
    """A gateway with LLM and TTS (audio-only turns)."""
    settings = gateway_settings(llm_address=llm_service.address, tts_address=tts_service.address)
    async for gateway in start_gateway(settings):
        yield gateway


@pytest.fixture
async def full_gateway(
    asr_service: ServiceProcess,
    llm_service: ServiceProcess,
    tts_service: ServiceProcess,
    lipsync_service: ServiceProcess,
) -> AsyncIterator[RunningGateway]:
    """A gateway with all four upstreams."""
    settings = gateway_settings(
        asr_address=asr_service.address,
        llm_address=llm_service.address,
        tts_address=tts_service.address,
        lipsync_address=lipsync_service.address,
    )
    async for gateway in start_gateway(settings):
        yield gateway
