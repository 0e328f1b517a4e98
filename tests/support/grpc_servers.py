"""Starting real gRPC servers in-process on 127.0.0.1:0 for tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from svc_core.server import GrpcServer, ServiceBinding
from svc_core.settings import ServiceSettings


@asynccontextmanager
async def running_server(
    bindings: Sequence[ServiceBinding],
    settings: ServiceSettings | None = None,
    *,
    serving: bool = True,
) -> AsyncIterator[GrpcServer]:
    """A started server on a free loopback port, stopped (grace 0) on exit.

    Use ``server.address`` to connect.
    """
    settings = settings or ServiceSettings(host="127.0.0.1", port=0, grace_period_s=0)
    server = GrpcServer(settings, bindings)
    await server.start()
    if serving:
        await server.set_serving(True)
    try:
        yield server
    finally:
        await server.stop(0)
