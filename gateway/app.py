"""Assembles a gateway: settings -> registry, upstream clients, servicer, background sweeper."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

from vtutor.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from gateway import metrics
from gateway.config import GatewaySettings
from gateway.server import GatewayServicer
from gateway.sessions import SessionRegistry
from gateway.upstream.clients import UpstreamClients
from svc_core.server import ServiceBinding, StartupError
from svc_core.telemetry import Telemetry

Hook = Callable[[], Awaitable[None]]


def build_gateway(
    settings: GatewaySettings, *, telemetry: Telemetry | None = None
) -> tuple[GatewayServicer, Sequence[ServiceBinding], Hook, Hook]:
    """The servicer, its binding, and startup/shutdown hooks (call inside the event loop).

    Raises:
        StartupError: No API key is configured.
    """
    if not settings.api_key.get_secret_value():
        raise StartupError(
            "GATEWAY_API_KEY is not set: set it to the service credential the backend will send"
        )
    registry = SessionRegistry(
        max_sessions=settings.max_sessions,
        idle_timeout_s=settings.idle_timeout_s,
        default_ttl_s=settings.token_ttl_s,
        ended_retention_s=settings.ended_retention_s,
    )
    metrics.watch_sessions(registry)
    # With tracing on, upstream calls carry the trace context (each turn's stages join it).
    interceptors = telemetry.client_interceptors() if telemetry else []
    clients = UpstreamClients.open(settings, interceptors)
    servicer = GatewayServicer(
        settings, registry, clients, engine_url=settings.engine_url(settings.port)
    )
    sweeper: list[asyncio.Task[None]] = []

    async def startup() -> None:
        sweeper.append(asyncio.create_task(registry.run_sweeper(settings.sweep_interval_s)))

    async def shutdown() -> None:
        for task in sweeper:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await clients.close()

    binding = ServiceBinding.of(servicer, gateway_pb2_grpc, gateway_pb2)
    return servicer, [binding], startup, shutdown
