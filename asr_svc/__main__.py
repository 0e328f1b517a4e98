"""``python -m asr_svc``: serves vtutor.asr.v1.AsrService (port 50052, settings ``ASR_*``)."""

from __future__ import annotations

import sys

from pydantic import ValidationError

from asr_svc.config import AsrSettings
from asr_svc.server import build_service
from svc_core.server import run_service


def main() -> None:
    """Reads the settings and serves until SIGTERM/SIGINT; exits 2 if it cannot start."""
    try:
        settings = AsrSettings()
    except ValidationError as exc:
        print(f"asr_svc: invalid ASR_* settings:\n{exc}", file=sys.stderr)
        sys.exit(2)
    run_service("asr_svc", settings, lambda: build_service(settings))


if __name__ == "__main__":
    main()
