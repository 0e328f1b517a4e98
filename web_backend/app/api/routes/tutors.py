"""Tutors of the tenant: CRUD, create-with-avatar and its progress, and the student's list."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Response, UploadFile, status
from pydantic import ValidationError

from web_backend.app import crud, models, schemas
from web_backend.app.api.deps import (
    Context,
    CurrentAdmin,
    CurrentStudent,
    Gateway,
    SessionDep,
    avatar_of,
    not_found,
    tutor_of,
)
from web_backend.app.core.avatar_jobs import AvatarJobRequest
from web_backend.app.core.gateway import AvatarSpec, GatewayError
from web_backend.app.core.uploads import audio_extension, save_upload, video_format

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/tutors", tags=["tutors"])
jobs_router = APIRouter(prefix="/api/avatar-jobs", tags=["tutors"])
student_router = APIRouter(prefix="/api/student", tags=["student"])


def _public(tutor: models.Tutor) -> schemas.TutorPublic:
    public = schemas.TutorPublic.model_validate(tutor)
    public.uses_builtin_knowledge = crud.uses_builtin_knowledge(tutor)
    return public


def avatar_key_for(name: str) -> str:
    """A lip-sync avatar id ([a-z0-9-], at most 64) from a display name, unique by suffix."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "avatar"
    return f"{slug}-{uuid.uuid4().hex[:16]}"


@router.post("", status_code=status.HTTP_201_CREATED)
def create_tutor(
    body: schemas.TutorCreate, db: SessionDep, admin: CurrentAdmin
) -> schemas.TutorPublic:
    """Creates a tutor without a new avatar (an existing one may be named)."""
    if body.avatar_id is not None:
        avatar_of(db, admin, body.avatar_id)
    return _public(crud.create_tutor(db=db, tenant_id=admin.tenant_id, data=body))


@router.get("")
def list_tutors(db: SessionDep, admin: CurrentAdmin) -> list[schemas.TutorPublic]:
    """The tenant's tutors."""
    return [_public(t) for t in crud.list_tutors(db=db, tenant_id=admin.tenant_id)]


@router.post("/create-with-avatar", status_code=status.HTTP_202_ACCEPTED)
async def create_tutor_with_avatar(
    db: SessionDep,
    admin: CurrentAdmin,
    ctx: Context,
    name: Annotated[str, Form()],
    avatar_video: Annotated[UploadFile, File(description="MP4, MOV or WebM, one face")],
    description: Annotated[str, Form()] = "",
    language_code: Annotated[str, Form()] = "en-US",
    system_prompt: Annotated[str, Form()] = "",
    llm_model: Annotated[str, Form()] = "",
    voice: Annotated[str, Form()] = "",
    video_enabled: Annotated[bool, Form()] = True,
    avatar_name: Annotated[str, Form()] = "",
    avatar_engine: Annotated[str, Form()] = "",
    blur_background: Annotated[bool, Form()] = False,
    voice_sample: Annotated[UploadFile | None, File()] = None,
) -> schemas.AvatarJobPublic:
    """Starts making a tutor with a new avatar from a video; poll the returned job.

    The tutor exists only once its avatar is ready; any failure leaves neither behind.
    Limits: video up to WEB_MAX_VIDEO_BYTES (100 MB), voice sample up to WEB_MAX_VOICE_BYTES.
    """
    settings = ctx.settings
    try:
        tutor = schemas.TutorCreate(
            name=name,
            description=description,
            language_code=language_code,
            system_prompt=system_prompt,
            llm_model=llm_model,
            voice=voice,
            video_enabled=video_enabled,
        )
    except ValidationError as error:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=error.errors(include_url=False, include_context=False, include_input=False),
        ) from None
    uploads_dir = settings.data_dir / "uploads"
    video_path = await save_upload(
        avatar_video, limit=settings.max_video_bytes, what="the avatar video", directory=uploads_dir
    )
    voice_path = None
    try:
        container = video_format(video_path)
        voice_extension = ""
        if voice_sample is not None and voice_sample.filename:
            voice_path = await save_upload(
                voice_sample,
                limit=settings.max_voice_bytes,
                what="the voice sample",
                directory=uploads_dir,
            )
            voice_extension = audio_extension(voice_path)
        job = crud.create_job(db=db, tenant_id=admin.tenant_id)
    except BaseException:
        video_path.unlink(missing_ok=True)
        if voice_path is not None:
            voice_path.unlink(missing_ok=True)
        raise
    display_name = avatar_name.strip() or name
    ctx.avatar_jobs.start(
        AvatarJobRequest(
            job_id=job.id,
            tenant_id=admin.tenant_id,
            tutor=tutor,
            spec=AvatarSpec(
                avatar_key=avatar_key_for(display_name),
                display_name=display_name,
                engine=avatar_engine,
                video_format=container,
                blur_background=blur_background,
            ),
            video_path=video_path,
            voice_path=voice_path,
            voice_extension=voice_extension,
        )
    )
    return schemas.AvatarJobPublic.model_validate(job)


@jobs_router.get("/{job_id}")
def get_avatar_job(job_id: str, db: SessionDep, admin: CurrentAdmin) -> schemas.AvatarJobPublic:
    """Progress of a create-with-avatar request."""
    job = crud.get_job(db=db, tenant_id=admin.tenant_id, job_id=job_id)
    if job is None:
        raise not_found("job")
    return schemas.AvatarJobPublic.model_validate(job)


@router.get("/{tutor_id}")
def get_tutor(tutor_id: str, db: SessionDep, admin: CurrentAdmin) -> schemas.TutorPublic:
    """One tutor."""
    return _public(tutor_of(db, admin, tutor_id))


@router.patch("/{tutor_id}")
def update_tutor(
    tutor_id: str, body: schemas.TutorUpdate, db: SessionDep, admin: CurrentAdmin
) -> schemas.TutorPublic:
    """Changes a tutor; `avatar_id` must name one of the tenant's avatars (or null)."""
    tutor = tutor_of(db, admin, tutor_id)
    if body.avatar_id is not None:
        avatar_of(db, admin, body.avatar_id)
    return _public(crud.update_tutor(db=db, tutor=tutor, data=body))


@router.get(
    "/{tutor_id}/talking-preview",
    response_class=Response,
    responses={200: {"content": {"video/mp4": {}}}},
)
async def talking_preview(
    tutor_id: str, db: SessionDep, admin: CurrentAdmin, gateway: Gateway
) -> Response:
    """The tutor's avatar saying a greeting in the tutor's voice, so a bad mouth or voice is
    seen before students see it (a few seconds to make)."""
    tutor = tutor_of(db, admin, tutor_id)
    avatar_key = tutor.avatar.avatar_key if tutor.avatar is not None else ""
    video, mime_type = await gateway.talking_preview(avatar_key, tutor.voice)
    return Response(video, media_type=mime_type, headers={"Cache-Control": "private, no-store"})


@router.delete("/{tutor_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_tutor(
    tutor_id: str, db: SessionDep, admin: CurrentAdmin, gateway: Gateway, ctx: Context
) -> None:
    """Deletes a tutor, its sessions, documents and knowledge base (its avatar stays)."""
    tutor = tutor_of(db, admin, tutor_id)
    try:
        # A built-in base (the demo's) is shared and read-only: it stays.
        if not crud.uses_builtin_knowledge(tutor):
            await gateway.delete_knowledge_base(tutor.knowledge_base_id)
    except GatewayError as error:
        # A tutor that never had documents has no knowledge base to delete.
        if error.code != "NOT_FOUND":
            raise
    if tutor.voice_sample:
        (ctx.settings.data_dir / "voices" / tutor.voice_sample).unlink(missing_ok=True)
    crud.delete_row(db=db, row=tutor)


@student_router.get("/tutors")
def student_tutors(db: SessionDep, student: CurrentStudent) -> list[schemas.TutorCard]:
    """The tutors a student can talk to."""
    tutors = crud.list_tutors(db=db, tenant_id=student.tenant_id)
    return [schemas.TutorCard.model_validate(t) for t in tutors]
