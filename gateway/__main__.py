"""``python -m gateway``: serves GatewayService on port 50051 (settings from GATEWAY_*)."""

from __future__ import annotations

from gateway.app import build_gateway
from gateway.config import GatewaySettings
from svc_core.server import run_service


def main() -> None:
    """Builds settings and runs the service until SIGTERM/SIGINT."""
    settings = GatewaySettings()

    def make_bindings():  # type: ignore[no-untyped-def]
        _, bindings, startup, shutdown = build_gateway(settings)
        return bindings, startup, shutdown

    run_service("gateway", settings, make_bindings)


if __name__ == "__main__":
    main()
