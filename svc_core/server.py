"""serve(): a grpc.aio server hosting one or more servicers, as every service runs.

It registers the standard health service and server reflection for every hosted service (so
grpcurl and evans work with no proto files), applies message-size and keepalive limits, maps
errors to statuses, and shuts down gracefully on SIGTERM/SIGINT: health goes NOT_SERVING first,
in-flight calls get a grace period, then the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]
from grpc_reflection.v1alpha import reflection

from svc_core.interceptor import ErrorMappingInterceptor, ResponseWriterInterceptor
from svc_core.logs import configure_logging
from svc_core.settings import ServiceSettings
from svc_core.telemetry import Telemetry, setup_telemetry

logger = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class StartupError(Exception):
    """The service cannot start (an engine or model is missing); the message says what to do."""


@dataclass(frozen=True)
class ServiceBinding:
    """A servicer, the generated function that adds it to a server, and its full name."""

    servicer: Any
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    service_name: str

    @classmethod
    def of(cls, servicer: Any, grpc_module: ModuleType, pb2_module: ModuleType) -> ServiceBinding:
        """Binds ``servicer`` using the generated modules of its service.

        Example: ``ServiceBinding.of(AsrServicer(engine), asr_pb2_grpc, asr_pb2)``; the service
        is found by the servicer base class the generated module defines.
        """
        for name, service in pb2_module.DESCRIPTOR.services_by_name.items():
            base = getattr(grpc_module, f"{name}Servicer")
            if isinstance(servicer, base):
                add = getattr(grpc_module, f"add_{name}Servicer_to_server")
                return cls(servicer, add, service.full_name)
        raise TypeError(f"{type(servicer).__name__} implements no service of {pb2_module.__name__}")


Hook = Callable[[], Awaitable[None]]
# What a service's __main__ hands run_service: its bindings, then startup and shutdown hooks.
ServiceParts = tuple[Sequence[ServiceBinding], Hook | None, Hook | None]


def _server_options(settings: ServiceSettings) -> list[tuple[str, int]]:
    keepalive_ms = int(settings.keepalive_time_s * 1000)
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.keepalive_time_ms", keepalive_ms),
        ("grpc.keepalive_timeout_ms", int(settings.keepalive_timeout_s * 1000)),
        # Clients may ping as often as we do; stricter limits make gRPC drop live streams.
        ("grpc.http2.min_ping_interval_without_data_ms", min(keepalive_ms, 10_000)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.so_reuseport", 0),
    ]


class GrpcServer:
    """A grpc.aio server with health, reflection and graceful shutdown.

    Health starts NOT_SERVING for every hosted service; call ``set_serving(True)`` once engines
    are loaded.
    """

    def __init__(
        self,
        settings: ServiceSettings,
        bindings: Sequence[ServiceBinding],
        *,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.settings = settings
        self.bindings = list(bindings)
        self.health = health_aio.HealthServicer()
        interceptors = [
            ResponseWriterInterceptor(),
            *(telemetry.server_interceptors() if telemetry else []),
            ErrorMappingInterceptor(
                drain_pause_s=settings.reject_drain_pause_s,
                drain_max_s=settings.reject_drain_max_s,
            ),
        ]
        self.server = grpc.aio.server(interceptors=interceptors, options=_server_options(settings))
        self.port = 0

    @property
    def service_names(self) -> list[str]:
        """Full names of the hosted services (not health or reflection)."""
        return [b.service_name for b in self.bindings]

    @property
    def address(self) -> str:
        """host:port clients connect to."""
        return f"{self.settings.host}:{self.port}"

    async def start(self) -> int:
        """Binds and starts serving calls; returns the bound port."""
        for binding in self.bindings:
            binding.add_to_server(binding.servicer, self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            [*self.service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], self.server
        )
        self.port = self.server.add_insecure_port(self.settings.bind_address)
        if self.port == 0:
            raise StartupError(f"cannot listen on {self.settings.bind_address}")
        await self.set_serving(False)
        await self.server.start()
        return self.port

    async def set_serving(self, serving: bool) -> None:
        """Sets health of the server ("") and of every hosted service."""
        status = SERVING if serving else NOT_SERVING
        for name in ["", *self.service_names]:
            await self.health.set(name, status)

    async def stop(self, grace: float | None = None) -> None:
        """Health NOT_SERVING, the drain period, then stop with a grace period for calls."""
        await self.health.enter_graceful_shutdown()
        if self.settings.drain_period_s:
            await asyncio.sleep(self.settings.drain_period_s)
        await self.server.stop(self.settings.grace_period_s if grace is None else grace)


async def serve(
    settings: ServiceSettings,
    bindings: Sequence[ServiceBinding],
    *,
    startup: Callable[[], Awaitable[None]] | None = None,
    shutdown: Callable[[], Awaitable[None]] | None = None,
    telemetry: Telemetry | None = None,
    stop_event: asyncio.Event | None = None,
) -> None:
    """Runs a server until SIGTERM/SIGINT (or ``stop_event``), then shuts down gracefully.

    Args:
        settings: Address, limits and grace periods.
        bindings: The servicers to host.
        startup: Loads engines; health stays NOT_SERVING until it returns. If it raises, the
            server stops and the error propagates.
        shutdown: Releases engines after the server has stopped.
        telemetry: Instrumentation for the server's calls.
        stop_event: Set it to stop the server (signals set it too).
    """
    loop = asyncio.get_running_loop()
    # Blocking inference (asyncio.to_thread) runs in a bounded pool.
    loop.set_default_executor(ThreadPoolExecutor(max_workers=settings.worker_threads))
    stop = stop_event or asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    server = GrpcServer(settings, bindings, telemetry=telemetry)
    await server.start()
    logger.info("listening on %s (%s)", server.address, ", ".join(server.service_names))
    try:
        if startup is not None:
            await startup()
        await server.set_serving(True)
        logger.info("serving")
        await stop.wait()
        logger.info("shutting down (grace %.1f s)", settings.grace_period_s)
    finally:
        await server.stop()
        if shutdown is not None:
            await shutdown()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


def run_service(
    service_name: str,
    settings: ServiceSettings,
    make_bindings: Callable[[], ServiceParts],
) -> None:
    """Entry point for ``python -m <service>``: logging, telemetry, serve, exit status.

    Args:
        service_name: Name in logs and traces.
        settings: The service's settings.
        make_bindings: Returns (bindings, startup, shutdown); called inside the event loop.

    Exits 0 after a graceful shutdown, 2 when the service cannot start (the message says why).
    """
    configure_logging(settings.log_level, service=service_name)
    try:
        telemetry = setup_telemetry(service_name)
    except ValueError as exc:
        logger.error("%s", exc)
        sys.exit(2)

    async def main() -> None:
        bindings, startup, shutdown = make_bindings()
        await serve(settings, bindings, startup=startup, shutdown=shutdown, telemetry=telemetry)

    try:
        asyncio.run(main())
    except StartupError as exc:
        logger.error("cannot start %s: %s", service_name, exc)
        sys.exit(2)
    finally:
        telemetry.shutdown()
    logger.info("stopped")
