"""`python -m web_backend`: apply migrations, then serve HTTP with uvicorn."""

from __future__ import annotations

import logging

import uvicorn

from svc_core.logs import configure_logging
from web_backend.app.core.config import Settings
from web_backend.app.core.db import upgrade_database
from web_backend.app.main import create_app

logger = logging.getLogger("web_backend")


def main() -> None:
    """Runs the backend until interrupted."""
    settings = Settings()
    configure_logging(settings.log_level, service="web_backend")
    upgrade_database(settings.resolved_database_url)
    logger.info("database migrated; serving on %s:%d", settings.host, settings.port)
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
