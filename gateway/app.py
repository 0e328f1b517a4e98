"""Assembles a gateway: settings -> session store and registry, upstream clients, servicer,
background sweeper."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

from vtutor.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from gateway import metrics
from gateway.config import GatewaySettings
from gateway.server import GatewayServicer
from gateway.session_store import open_store
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
    try:
        store = open_store(settings.session_store, settings.data_dir)
    except ValueError as exc:
        raise StartupError(str(exc)) from None
    registry = SessionRegistry(
        max_sessions=settings.max_sessions,
        idle_timeout_s=settings.idle_timeout_s,
        default_ttl_s=settings.token_ttl_s,
        ended_retention_s=settings.ended_retention_s,
        store=store,
        instance_id=settings.instance_name(),
        disconnect_grace_s=settings.disconnect_grace_s,
        instance_ttl_s=settings.instance_ttl_s,
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
        # Say this instance is alive (and tidy the store) before the first stream opens.
        try:
            await registry.sweep_store()
        except Exception as exc:
            raise StartupError(
                f"the session store ({settings.session_store or 'sqlite'}) cannot be used: {exc}"
            ) from exc
        sweeper.append(asyncio.create_task(registry.run_sweeper(settings.sweep_interval_s)))

    async def shutdown() -> None:
        for task in sweeper:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await clients.close()
        await registry.close()

    binding = ServiceBinding.of(servicer, gateway_pb2_grpc, gateway_pb2)
    return servicer, [binding], startup, shutdown
