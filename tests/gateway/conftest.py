"""Fixtures: the inference services as child processes, and an in-process gateway on top."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from gateway.app import build_gateway
from gateway.config import GatewaySettings
from gateway.server import GatewayServicer
from svc_core.settings import ServiceSettings
from tests.support.grpc_servers import running_server
from tests.support.service_process import ServiceProcess, is_built

API_KEY = "test-service-key"


def _service(package: str, env: dict[str, str] | None = None) -> Iterator[ServiceProcess]:
    if not is_built(package):
        pytest.skip(f"{package} is not built in this tree yet")
    service = ServiceProcess(package, env)
    service.start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def asr_service() -> Iterator[ServiceProcess]:
    """asr_svc (pocketsphinx) as a child process, shared by the session's tests."""
    yield from _service("asr_svc")


@pytest.fixture(scope="session")
def llm_service() -> Iterator[ServiceProcess]:
    """llm_svc (retrieval over the demo knowledge base) as a child process."""
    yield from _service("llm_svc")


@pytest.fixture(scope="session")
def tts_service() -> Iterator[ServiceProcess]:
    """tts_svc (espeak) as a child process."""
    yield from _service("tts_svc")


@pytest.fixture(scope="session")
def lipsync_service() -> Iterator[ServiceProcess]:
    """lipsync_svc (procedural, drawn default avatar) as a child process."""
    yield from _service("lipsync_svc")


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
