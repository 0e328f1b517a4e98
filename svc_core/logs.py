"""Logging setup: one line per event, level from settings.

Never log transcripts, prompts or tokens at INFO: they are the students' private data.
"""

from __future__ import annotations

import logging
import sys

_FORMAT = "%(asctime)s %(levelname)-5s %(name)s: %(message)s"


def configure_logging(level: str = "INFO", *, service: str | None = None) -> None:
    """Sends log records to stderr, one line each, prefixed with the service name when given."""
    fmt = f"{service} {_FORMAT}" if service else _FORMAT
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(fmt, datefmt="%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # gRPC's and OpenTelemetry's own loggers are chatty at INFO.
    for noisy in ("grpc", "opentelemetry", "urllib3", "httpx", "aioice"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
