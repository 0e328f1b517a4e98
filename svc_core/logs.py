"""Logging setup: one line per event, level from settings.

Never log transcripts, prompts or tokens at INFO: they are the students' private data.
"""

from __future__ import annotations

import logging
import sys
import time

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


class RateLimitedLog:
    """Logs at most one record per ``interval_s``, counting the ones it held back.

    For events a client can cause at will (garbage requests): one line tells the operator it
    happens, without letting an attacker fill the log.
    """

    def __init__(self, logger: logging.Logger, interval_s: float = 60.0) -> None:
        self._logger = logger
        self._interval_s = interval_s
        self._next_at = 0.0
        self.suppressed = 0

    def log(self, level: int, message: str, *args: object) -> bool:
        """Logs ``message % args`` unless one was logged within the interval; True if logged."""
        now = time.monotonic()
        if now < self._next_at:
            self.suppressed += 1
            return False
        held, self.suppressed = self.suppressed, 0
        suffix = f" ({held} more like it in the last {self._interval_s:.0f} s)" if held else ""
        self._logger.log(level, message + suffix, *args)
        self._next_at = now + self._interval_s
        return True
