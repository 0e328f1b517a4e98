"""Database operations, keyword-only, every read scoped to a tenant.

A row of another tenant is treated as missing (None), so routes answer 404 and never reveal
that it exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from web_backend.app import models, schemas
from web_backend.app.core.security import hash_password, verify_password


class EmailTaken(Exception):
    """An admin or student already uses this email."""


# Tenants and admins.


def create_tenant(*, db: Session, name: str) -> models.Tenant:
    """Creates a tenant (commits)."""
    tenant = models.Tenant(name=name)
    db.add(tenant)
    db.commit()
    return tenant


def get_tenant_by_name(*, db: Session, name: str) -> models.Tenant | None:
    """The tenant called `name`."""
    return db.scalar(select(models.Tenant).where(models.Tenant.name == name))


def email_in_use(*, db: Session, email: str) -> bool:
    """Whether any admin or student logs in with `email` (emails are unique across roles)."""
    email = email.lower()
    return (
        db.scalar(select(models.Admin.id).where(models.Admin.email == email)) is not None
        or db.scalar(select(models.Student.id).where(models.Student.email == email)) is not None
    )


def create_admin(
    *, db: Session, tenant_id: str, email: str, password: str, full_name: str = ""
) -> models.Admin:
    """Creates an admin of a tenant (commits).

    Raises:
        EmailTaken: the email is in use.
    """
    if email_in_use(db=db, email=email):
        raise EmailTaken(email)
    admin = models.Admin(
        tenant_id=tenant_id,
        email=email.lower(),
        full_name=full_name,
        hashed_password=hash_password(password),
    )
    db.add(admin)
    db.commit()
    return admin


def authenticate(*, db: Session, email: str, password: str) -> models.Admin | models.Student | None:
    """The active admin or student with these credentials, or None."""
    email = email.lower()
    user: models.Admin | models.Student | None = db.scalar(
        select(models.Admin).where(models.Admin.email == email)
    )
    if user is None:
        user = db.scalar(select(models.Student).where(models.Student.email == email))
    hashed = user.hashed_password if user is not None else None
    if not verify_password(password, hashed) or user is None or not user.is_active:
        return None
    return user


def get_admin(*, db: Session, admin_id: str) -> models.Admin | None:
    """The admin with this id (used to resolve a token)."""
    return db.get(models.Admin, admin_id)


# Students.


def create_student(*, db: Session, tenant_id: str, data: schemas.StudentCreate) -> models.Student:
    """Creates a student (commits).

    Raises:
        EmailTaken: the email is in use.
    """
    if email_in_use(db=db, email=data.email):
        raise EmailTaken(data.email)
    student = models.Student(
        tenant_id=tenant_id,
        email=data.email.lower(),
        full_name=data.full_name,
        hashed_password=hash_password(data.password),
    )
    db.add(student)
    db.commit()
    return student


def get_student(*, db: Session, tenant_id: str, student_id: str) -> models.Student | None:
    """The tenant's student with this id."""
    student = db.get(models.Student, student_id)
    return student if student is not None and student.tenant_id == tenant_id else None


def list_students(*, db: Session, tenant_id: str) -> Sequence[models.Student]:
    """The tenant's students by email."""
    query = select(models.Student).where(models.Student.tenant_id == tenant_id)
    return db.scalars(query.order_by(models.Student.email)).all()


def update_student(
    *, db: Session, student: models.Student, data: schemas.StudentUpdate
) -> models.Student:
    """Applies `data` to `student` (commits)."""
    changes = data.model_dump(exclude_unset=True)
    password = changes.pop("password", None)
    if password is not None:
        student.hashed_password = hash_password(password)
    for name, value in changes.items():
        if value is not None:
            setattr(student, name, value)
    db.commit()
    return student


def delete_row(*, db: Session, row: Any) -> None:
    """Deletes a row (commits)."""
    db.delete(row)
    db.commit()


# Avatars.


def get_avatar(*, db: Session, tenant_id: str, avatar_id: str) -> models.Avatar | None:
    """The tenant's avatar with this id."""
    avatar = db.get(models.Avatar, avatar_id)
    return avatar if avatar is not None and avatar.tenant_id == tenant_id else None


def list_avatars(*, db: Session, tenant_id: str) -> Sequence[models.Avatar]:
    """The tenant's avatars, newest first."""
    query = select(models.Avatar).where(models.Avatar.tenant_id == tenant_id)
    return db.scalars(query.order_by(models.Avatar.created_at.desc())).all()


# Tutors.


def _tutor_fields(data: schemas.TutorCreate | schemas.TutorUpdate) -> dict[str, Any]:
    return data.model_dump(exclude_unset=True)


def create_tutor(
    *,
    db: Session,
    tenant_id: str,
    data: schemas.TutorCreate,
    avatar: models.Avatar | None = None,
    commit: bool = True,
) -> models.Tutor:
    """Creates a tutor; its knowledge base id is derived from its own id.

    Args:
        avatar: the avatar to give it (overrides ``data.avatar_id``).
        commit: False to leave the transaction open (create-with-avatar commits once).
    """
    fields = _tutor_fields(data)
    fields.pop("avatar_id", None)
    tutor = models.Tutor(id=models.new_id(), tenant_id=tenant_id, **fields)
    tutor.knowledge_base_id = f"kb-{tutor.id}"
    if avatar is not None:
        tutor.avatar = avatar
    elif data.avatar_id:
        tutor.avatar_id = data.avatar_id
    db.add(tutor)
    if commit:
        db.commit()
    else:
        db.flush()
    return tutor


# Knowledge bases that ship with llm_svc, read-only: a tutor may answer from one (the demo
# tutor `make dev` seeds) instead of its own `kb-<id>`.
BUILTIN_KNOWLEDGE_BASES = frozenset({"demo"})


def uses_builtin_knowledge(tutor: models.Tutor) -> bool:
    """Whether the tutor answers from a built-in knowledge base (never indexed or deleted)."""
    return tutor.knowledge_base_id in BUILTIN_KNOWLEDGE_BASES


def get_tutor(*, db: Session, tenant_id: str, tutor_id: str) -> models.Tutor | None:
    """The tenant's tutor with this id."""
    tutor = db.get(models.Tutor, tutor_id)
    return tutor if tutor is not None and tutor.tenant_id == tenant_id else None


def list_tutors(*, db: Session, tenant_id: str) -> Sequence[models.Tutor]:
    """The tenant's tutors by name."""
    query = select(models.Tutor).where(models.Tutor.tenant_id == tenant_id)
    return db.scalars(query.order_by(models.Tutor.name)).all()


def update_tutor(*, db: Session, tutor: models.Tutor, data: schemas.TutorUpdate) -> models.Tutor:
    """Applies `data` to `tutor` (commits); ``avatar_id`` must already be checked."""
    for name, value in _tutor_fields(data).items():
        if value is not None or name == "avatar_id":
            setattr(tutor, name, value)
    db.commit()
    db.refresh(tutor)
    return tutor


# Avatar creation jobs.


def create_job(*, db: Session, tenant_id: str) -> models.AvatarJob:
    """Creates a pending job (commits)."""
    job = models.AvatarJob(tenant_id=tenant_id, message="queued")
    db.add(job)
    db.commit()
    return job


def get_job(*, db: Session, tenant_id: str, job_id: str) -> models.AvatarJob | None:
    """The tenant's job with this id."""
    job = db.get(models.AvatarJob, job_id)
    return job if job is not None and job.tenant_id == tenant_id else None


def update_job(*, db: Session, job_id: str, **fields: Any) -> None:
    """Sets fields of a job (commits)."""
    job = db.get(models.AvatarJob, job_id)
    if job is None:
        return
    for name, value in fields.items():
        setattr(job, name, value)
    db.commit()


def fail_unfinished_jobs(*, db: Session) -> int:
    """Marks jobs a previous process left running as failed; returns how many."""
    jobs = db.scalars(
        select(models.AvatarJob).where(models.AvatarJob.state.in_(("pending", "running")))
    ).all()
    for job in jobs:
        job.state = "failed"
        job.error = "interrupted: the backend restarted while the avatar was being made"
    db.commit()
    return len(jobs)


# Knowledge documents.


def add_documents(
    *, db: Session, tutor: models.Tutor, documents: Sequence[dict[str, str]]
) -> list[models.KnowledgeDocument]:
    """Adds document rows (filename, title, content_type, text) to a tutor (commits)."""
    rows = [
        models.KnowledgeDocument(tenant_id=tutor.tenant_id, tutor_id=tutor.id, **document)
        for document in documents
    ]
    db.add_all(rows)
    db.commit()
    return rows


def new_document_id() -> str:
    """An id for a document row (also its id in the knowledge base)."""
    return models.new_id()


def has_documents(*, db: Session, tutor_id: str) -> bool:
    """Whether the tutor has any indexed document (then its knowledge base exists)."""
    query = select(models.KnowledgeDocument.id).where(models.KnowledgeDocument.tutor_id == tutor_id)
    return db.execute(query.limit(1)).first() is not None


def list_documents(*, db: Session, tutor_id: str) -> Sequence[models.KnowledgeDocument]:
    """A tutor's documents, oldest first."""
    query = select(models.KnowledgeDocument).where(models.KnowledgeDocument.tutor_id == tutor_id)
    return db.scalars(query.order_by(models.KnowledgeDocument.created_at)).all()


def get_document(
    *, db: Session, tenant_id: str, tutor_id: str, document_id: str
) -> models.KnowledgeDocument | None:
    """The tenant's document with this id, of this tutor."""
    document = db.get(models.KnowledgeDocument, document_id)
    if document is None or document.tenant_id != tenant_id or document.tutor_id != tutor_id:
        return None
    return document


# Sessions and turns.


def create_session(
    *,
    db: Session,
    tenant_id: str,
    student_id: str,
    tutor_id: str,
    kind: str,
    gateway_session_id: str = "",
    expires_at: datetime | None = None,
) -> models.TutorSession:
    """Creates a session row (commits)."""
    session = models.TutorSession(
        tenant_id=tenant_id,
        student_id=student_id,
        tutor_id=tutor_id,
        kind=kind,
        gateway_session_id=gateway_session_id,
        expires_at=expires_at,
    )
    db.add(session)
    db.commit()
    return session


def get_session(*, db: Session, tenant_id: str, session_id: str) -> models.TutorSession | None:
    """The tenant's session with this id."""
    session = db.get(models.TutorSession, session_id)
    return session if session is not None and session.tenant_id == tenant_id else None


def list_sessions(
    *, db: Session, tenant_id: str, student_id: str | None = None, limit: int = 50
) -> Sequence[models.TutorSession]:
    """The tenant's sessions (or one student's), newest first."""
    query = select(models.TutorSession).where(models.TutorSession.tenant_id == tenant_id)
    if student_id is not None:
        query = query.where(models.TutorSession.student_id == student_id)
    query = query.order_by(models.TutorSession.created_at.desc()).limit(limit)
    return db.scalars(query).all()


def list_live_sessions(*, db: Session) -> Sequence[models.TutorSession]:
    """Live sessions not yet ended, across tenants (their turns are being watched)."""
    query = select(models.TutorSession).where(
        models.TutorSession.kind == "live", models.TutorSession.state == "active"
    )
    return db.scalars(query).all()


def end_session(*, db: Session, session: models.TutorSession, when: datetime) -> None:
    """Marks a session ended (commits); ending twice keeps the first time."""
    if session.state != "ended":
        session.state = "ended"
        session.ended_at = when
        db.commit()


def next_turn_index(*, db: Session, session_id: str) -> int:
    """One past the highest stored turn index (0 for none)."""
    highest = db.scalar(
        select(func.max(models.Turn.turn_index)).where(models.Turn.session_id == session_id)
    )
    return 0 if highest is None else highest + 1


def save_turn(*, db: Session, session_id: str, fields: dict[str, Any]) -> models.Turn:
    """Stores a turn; a turn already stored at the same index is updated, not duplicated."""
    turn = db.scalar(
        select(models.Turn).where(
            models.Turn.session_id == session_id,
            models.Turn.turn_index == fields["turn_index"],
        )
    )
    if turn is None:
        turn = models.Turn(session_id=session_id, **fields)
        db.add(turn)
    else:
        for name, value in fields.items():
            setattr(turn, name, value)
    db.commit()
    return turn


def list_turns(*, db: Session, session_id: str) -> Sequence[models.Turn]:
    """A session's turns in order."""
    query = select(models.Turn).where(models.Turn.session_id == session_id)
    return db.scalars(query.order_by(models.Turn.turn_index)).all()
