"""The real stack, shared by every suite: the four inference services and the gateway, each as
its own child process on loopback, started once per test session (tests/conftest.py).

Tests share it, so each makes its own tenants, tutors, sessions and avatars (unique ids) and
never relies on the stack being empty. Tests that must kill or reconfigure an upstream start
processes of their own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
from vtutor.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from tests.support.service_process import ServiceProcess, free_port

# The service credential of the shared gateway (what the backend and the edge send).
API_KEY = "test-service-key"
SERVICE_AUTH = (("authorization", f"Bearer {API_KEY}"),)
UPSTREAMS = ("asr_svc", "llm_svc", "tts_svc", "lipsync_svc")
# The shared tts_svc speaks with espeak-ng, not the default Piper voice: the gateway and e2e
# tests time interruptions against its near-instant speech, and the suite must stay light on
# two cores. The default engine is tested as a process in tests/tts_svc/test_main.py.
UPSTREAM_ENV = {"tts_svc": {"TTS_ENGINE": "espeak"}}


@dataclass
class RealStack:
    """The running processes; ``gateway`` fronts the four others."""

    asr: ServiceProcess
    llm: ServiceProcess
    tts: ServiceProcess
    lipsync: ServiceProcess
    gateway: ServiceProcess

    @property
    def address(self) -> str:
        """host:port of the gateway."""
        return self.gateway.address

    def processes(self) -> list[ServiceProcess]:
        """Every process, upstreams first."""
        return [self.asr, self.llm, self.tts, self.lipsync, self.gateway]

    @asynccontextmanager
    async def stub(self) -> AsyncIterator[gateway_pb2_grpc.GatewayServiceStub]:
        """A client of the gateway (send ``metadata=SERVICE_AUTH`` on control-plane calls)."""
        async with grpc.aio.insecure_channel(self.address) as channel:
            yield gateway_pb2_grpc.GatewayServiceStub(channel)

    async def get_session(self, session_id: str) -> gateway_pb2.Session:
        """The gateway's view of a session (GetSession)."""
        async with self.stub() as stub:
            response = await stub.GetSession(
                gateway_pb2.GetSessionRequest(session_id=session_id), metadata=SERVICE_AUTH
            )
        return response.session


def gateway_env(upstreams: dict[str, ServiceProcess], **settings: str) -> dict[str, str]:
    """Environment of a gateway process in front of ``upstreams`` (package -> process)."""
    env = {
        "GATEWAY_API_KEY": API_KEY,
        "GATEWAY_ASR_ADDRESS": upstreams["asr_svc"].address,
        "GATEWAY_LLM_ADDRESS": upstreams["llm_svc"].address,
        "GATEWAY_TTS_ADDRESS": upstreams["tts_svc"].address,
        "GATEWAY_LIPSYNC_ADDRESS": upstreams["lipsync_svc"].address,
        # Every test of the run makes sessions on this one gateway.
        "GATEWAY_MAX_SESSIONS": "100000",
    }
    env.update({f"GATEWAY_{name.upper()}": value for name, value in settings.items()})
    return env


def start_real_stack() -> RealStack:
    """Starts the four services side by side, then the gateway in front of them.

    Raises:
        RuntimeError: A process did not become healthy (its log is in the message); whatever
            had started is stopped again.
    """
    upstreams = {
        package: ServiceProcess(package, UPSTREAM_ENV.get(package)) for package in UPSTREAMS
    }
    started: list[ServiceProcess] = []
    try:
        for service in upstreams.values():
            service.spawn()
            started.append(service)
        for service in upstreams.values():
            service.wait_serving()
        gateway = ServiceProcess("gateway", gateway_env(upstreams))
        gateway.spawn()
        started.append(gateway)
        gateway.wait_serving()
    except BaseException:
        for service in reversed(started):
            service.stop()
        raise
    return RealStack(
        asr=upstreams["asr_svc"],
        llm=upstreams["llm_svc"],
        tts=upstreams["tts_svc"],
        lipsync=upstreams["lipsync_svc"],
        gateway=gateway,
    )


def stop_real_stack(stack: RealStack) -> None:
    """Stops the gateway, then the services."""
    for service in reversed(stack.processes()):
        service.stop()


def closed_address() -> str:
    """A loopback address nothing listens on (a gateway that is down)."""
    return f"127.0.0.1:{free_port()}"
