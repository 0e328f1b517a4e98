"""``python -m gateway``: serves GatewayService on port 50051 (settings from GATEWAY_*)."""

from __future__ import annotations

from gateway.app import build_gateway
from gateway.config import GatewaySettings
from svc_core.server import run_service
from svc_core.telemetry import current_telemetry


def main() -> None:
    """Builds settings and runs the service until SIGTERM/SIGINT."""
    settings = GatewaySettings()

    def make_bindings():  # type: ignore[no-untyped-def]
        # run_service has set up telemetry by now; upstream calls are instrumented with it.
        _, bindings, startup, shutdown = build_gateway(settings, telemetry=current_telemetry())
        return bindings, startup, shutdown

    run_service("gateway", settings, make_bindings)


if __name__ == "__main__":
    main()
