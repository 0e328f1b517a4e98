"""The demo `make dev` seeds on a first run: a tenant, its admin, a student and a tutor that
answers from llm_svc's built-in ``demo`` knowledge base, so a new user talks to something in a
minute (issue 22).

Passwords are generated. They are shown on the first run and kept, owner-readable only, in
``<data dir>/demo-login.json`` so later runs of `make dev` can show them again: this is a
development convenience for a demo account on a developer's machine, never a deployment path.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from web_backend.app import crud, models, schemas
from web_backend.app.core.config import Settings
from web_backend.app.core.db import make_engine, make_session_factory, upgrade_database
from web_backend.app.core.join_links import JoinClaims, create_join_secret, join_url

DEMO_TENANT = "Demo School"
DEMO_ADMIN = "admin@demo.example"
DEMO_STUDENT = "student@demo.example"
DEMO_TUTOR = "Demo Tutor"
DEMO_KNOWLEDGE_BASE = "demo"
LOGIN_FILE = "demo-login.json"


@dataclass(frozen=True)
class DemoLogin:
    """The demo's accounts and a fresh join link for its student."""

    admin_email: str
    admin_password: str
    student_email: str
    student_password: str
    join_link: str
    created: bool  # False: the demo existed already (passwords read back from the data dir)


def new_password() -> str:
    """A random password (16 URL-safe characters, ~96 bits)."""
    return secrets.token_urlsafe(12)


def _keep(path: Path, login: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Owner-only from the first byte, like the development JWT secret beside it.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(login, handle)


def _kept(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def seed_demo(settings: Settings, *, base_url: str) -> DemoLogin:
    """Creates the demo once; on later calls finds it and mints a fresh join link.

    Args:
        settings: the backend's settings (its database and data dir).
        base_url: where browsers reach the backend, for the join link.

    Raises:
        LookupError: the demo tenant exists but its student or tutor was deleted.
    """
    upgrade_database(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    login_path = settings.data_dir / LOGIN_FILE
    try:
        with make_session_factory(engine)() as db:
            tenant = crud.get_tenant_by_name(db=db, name=DEMO_TENANT)
            created = tenant is None
            if tenant is None:
                login = {"admin_password": new_password(), "student_password": new_password()}
                tenant = crud.create_tenant(db=db, name=DEMO_TENANT)
                crud.create_admin(
                    db=db,
                    tenant_id=tenant.id,
                    email=DEMO_ADMIN,
                    password=login["admin_password"],
                    full_name="Demo Admin",
                )
                student = crud.create_student(
                    db=db,
                    tenant_id=tenant.id,
                    data=schemas.StudentCreate(
                        email=DEMO_STUDENT, password=login["student_password"], full_name="Sam"
                    ),
                )
                tutor = crud.create_tutor(
                    db=db,
                    tenant_id=tenant.id,
                    data=schemas.TutorCreate(
                        name=DEMO_TUTOR,
                        description=(
                            "Answers from the built-in demo notes: photosynthesis, fractions, "
                            "arithmetic, the water cycle and the solar system."
                        ),
                        system_prompt=(
                            "You are a patient tutor. Answer briefly and check understanding."
                        ),
                    ),
                    commit=False,
                )
                tutor.knowledge_base_id = DEMO_KNOWLEDGE_BASE
                db.commit()
                _keep(login_path, login)
            else:
                login = _kept(login_path)
                found_student = db.scalar(
                    select(models.Student).where(
                        models.Student.tenant_id == tenant.id, models.Student.email == DEMO_STUDENT
                    )
                )
                found_tutor = db.scalar(
                    select(models.Tutor).where(
                        models.Tutor.tenant_id == tenant.id,
                        models.Tutor.knowledge_base_id == DEMO_KNOWLEDGE_BASE,
                    )
                )
                if found_student is None or found_tutor is None:
                    raise LookupError(
                        f"the demo's student or tutor was deleted (tenant {DEMO_TENANT!r} "
                        "remains): start with a fresh data dir to seed the demo again"
                    )
                student, tutor = found_student, found_tutor
            secret, _ = create_join_secret(
                JoinClaims(tenant_id=tenant.id, student_id=student.id, tutor_id=tutor.id),
                secret=settings.resolved_jwt_secret(),
                ttl=timedelta(seconds=settings.join_link_ttl_s),
            )
    finally:
        engine.dispose()
    return DemoLogin(
        admin_email=DEMO_ADMIN,
        admin_password=login.get("admin_password", ""),
        student_email=DEMO_STUDENT,
        student_password=login.get("student_password", ""),
        join_link=join_url(base_url, secret),
        created=created,
    )
