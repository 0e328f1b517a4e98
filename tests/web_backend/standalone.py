"""A backend with no gateway behind it, for features that never reach the gateway (login
throttling, upload refusals, response headers): no real stack to start, so these tests stay
fast. The gateway address points at a closed port; a call that reached it would fail."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from tests.web_backend.conftest import PASSWORD, make_settings
from web_backend.app import crud
from web_backend.app.main import create_app

NO_GATEWAY = "127.0.0.1:9"


@dataclass
class StandaloneBackend:
    """The app, and a way to make HTTP clients that come from a given address."""

    app: FastAPI

    def client(self, address: str = "198.51.100.1") -> httpx.AsyncClient:
        """A client whose requests arrive from ``address``."""
        transport = httpx.ASGITransport(app=self.app, client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://backend")

    def add_admin(self, tenant: str) -> str:
        """Creates a tenant with one admin; returns the admin's email (password PASSWORD)."""
        with self.app.state.ctx.sessions() as db:
            row = crud.create_tenant(db=db, name=tenant)
            email = f"admin@{tenant}.test"
            crud.create_admin(db=db, tenant_id=row.id, email=email, password=PASSWORD)
        return email


@asynccontextmanager
async def standalone_backend(
    tmp_path: Path, database_url: str, **overrides: Any
) -> AsyncIterator[StandaloneBackend]:
    """A backend app with its lifespan running and no gateway."""
    app = create_app(make_settings(tmp_path, database_url, NO_GATEWAY, **overrides))
    async with app.router.lifespan_context(app):
        yield StandaloneBackend(app)
