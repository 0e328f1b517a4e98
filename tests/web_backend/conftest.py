"""Fixtures: the backend on SQLite and on a real PostgreSQL, in front of the real gateway stack
(tests/conftest.py's ``real_stack``: every service its own process, embedded engines)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from tests.support.real_stack import API_KEY, RealStack
from tests.web_backend.postgres import create_database, running_postgres
from web_backend.app import crud
from web_backend.app.core import security
from web_backend.app.core.config import Settings
from web_backend.app.core.db import make_engine, make_session_factory, upgrade_database
from web_backend.app.core.gateway import GatewayClient
from web_backend.app.main import create_app

PASSWORD = "correct horse battery"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The admin URL of a PostgreSQL server started for this test run."""
    with running_postgres() as url:
        yield url


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing() -> Iterator[None]:
    """Argon2 with small costs: every test makes accounts, and the default costs ~0.2 s each."""
    fast = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(security, "_password_hash", fast)
        patch.setattr(security, "_DUMMY_HASH", fast.hash("not-a-real-password"))
        yield


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once (by Alembic, as at start), copied by each test."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def migrated_postgres(postgres_url: str) -> str:
    """The name of a PostgreSQL database migrated once, used as each test's template."""
    url = create_database(postgres_url, "vtutor_template")
    upgrade_database(url)
    make_engine(url).dispose()
    return "vtutor_template"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "backend.sqlite3"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        return f"sqlite:///{path}"
    template = request.getfixturevalue("migrated_postgres")
    admin_url = request.getfixturevalue("postgres_url")
    return create_database(admin_url, f"t_{uuid.uuid4().hex[:12]}", template=template)


@dataclass
class Backend:
    """A running backend and ways to reach into it."""

    app: FastAPI
    client: httpx.AsyncClient
    settings: Settings
    stack: RealStack

    def db(self) -> Any:
        """A database session of the backend's own database."""
        return self.app.state.ctx.sessions()

    @property
    def gateway(self) -> GatewayClient:
        """The backend's own gateway client (tests read the gateway's state through it)."""
        client: GatewayClient = self.app.state.ctx.gateway
        return client


def make_settings(
    tmp_path: Path, database_url: str, gateway_address: str, **extra: Any
) -> Settings:
    """Settings for a test backend."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        gateway_address=gateway_address,
        gateway_api_key=API_KEY,
        jwt_secret="test-secret-" + uuid.uuid4().hex,
        **extra,
    )


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Extra settings a test module wants (override the fixture)."""
    return {}


@asynccontextmanager
async def running_backend(settings: Settings, stack: RealStack) -> AsyncIterator[Backend]:
    """A backend app with its lifespan running, and an HTTP client for it."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://backend") as client:
            yield Backend(app, client, settings, stack)


@pytest.fixture
async def backend(
    tmp_path: Path,
    database_url: str,
    real_stack: RealStack,
    settings_overrides: dict[str, Any],
) -> AsyncIterator[Backend]:
    """The backend in front of the shared real gateway."""
    settings = make_settings(tmp_path, database_url, real_stack.address, **settings_overrides)
    async with running_backend(settings, real_stack) as running:
        yield running


@dataclass
class Tenant:
    """A tenant with an admin and a student, logged in."""

    id: str
    admin_headers: dict[str, str]
    student_headers: dict[str, str]
    student_id: str


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    """Bearer headers for an account."""
    response = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def make_tenant(backend: Backend, name: str) -> Tenant:
    """Creates a tenant, its admin and one student, and logs both in."""
    with backend.db() as db:
        tenant = crud.create_tenant(db=db, name=name)
        crud.create_admin(db=db, tenant_id=tenant.id, email=f"admin@{name}.test", password=PASSWORD)
    admin = await login(backend.client, f"admin@{name}.test")
    response = await backend.client.post(
        "/api/students",
        json={"email": f"student@{name}.test", "password": PASSWORD, "full_name": "Sam"},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    student = await login(backend.client, f"student@{name}.test")
    return Tenant(tenant.id, admin, student, response.json()["id"])


@pytest.fixture
async def tenants(backend: Backend) -> tuple[Tenant, Tenant]:
    """Two tenants, so every test can try the other one's ids."""
    return await make_tenant(backend, "alpha"), await make_tenant(backend, "beta")


def sessions_of(url: str) -> Any:
    """A session factory on a database (for checks outside the app)."""
    return make_session_factory(make_engine(url))
