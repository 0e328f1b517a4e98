"""Entry point: ``python -m tts_svc`` serves vtutor.tts.v1.TtsService (TTS_* settings)."""

from __future__ import annotations

from svc_core.server import run_service
from tts_svc.config import TtsSettings
from tts_svc.server import build_service


def main() -> None:
    """Reads the settings and serves until SIGTERM/SIGINT."""
    settings = TtsSettings()
    run_service("tts_svc", settings, lambda: build_service(settings))


if __name__ == "__main__":
    main()
