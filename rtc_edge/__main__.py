"""``python -m rtc_edge``: serves signaling and the student page on port 8080 (RTC_* settings)."""

from __future__ import annotations

import asyncio
import logging
import sys

from aiohttp import web
from pydantic import ValidationError

from rtc_edge.app import build_app
from rtc_edge.config import EdgeSettings
from svc_core.logs import configure_logging


def event_loop(name: str) -> asyncio.AbstractEventLoop:
    """A new event loop of the kind named (asyncio's when uvloop is not installed)."""
    if name == "uvloop":
        try:
            import uvloop
        except ImportError:
            logging.getLogger("rtc_edge").warning("uvloop is not installed: asyncio's loop")
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def main() -> None:
    """Builds settings and serves until SIGTERM/SIGINT (peers are closed on the way out)."""
    try:
        settings = EdgeSettings()
    except ValidationError as error:
        # A missing or development TURN secret outside development, or a malformed setting.
        configure_logging("INFO", service="rtc_edge")
        for problem in error.errors():
            logging.getLogger("rtc_edge").error("cannot start rtc_edge: %s", problem["msg"])
        sys.exit(2)
    configure_logging(settings.log_level, service="rtc_edge")
    web.run_app(
        build_app(settings),
        loop=event_loop(settings.event_loop),
        host=settings.host,
        port=settings.port,
        shutdown_timeout=settings.grace_period_s,
        print=None,
        access_log=None,
    )


if __name__ == "__main__":
    main()
