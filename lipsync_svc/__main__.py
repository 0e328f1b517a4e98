"""``python -m lipsync_svc``: serves vtutor.lipsync.v1.LipsyncService (port 50055, ``LIPSYNC_``)."""

from __future__ import annotations

from lipsync_svc.config import LipsyncSettings
from lipsync_svc.server import build_service
from svc_core.server import run_service


def main() -> None:
    """Reads settings from the environment and serves until SIGTERM or Ctrl-C."""
    settings = LipsyncSettings()
    run_service("lipsync_svc", settings, lambda: build_service(settings))


if __name__ == "__main__":
    main()
