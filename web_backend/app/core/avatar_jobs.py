"""Create-with-avatar: makes the avatar through the gateway, then the tutor, all or nothing.

The tutor and avatar rows are written in one transaction only after the lip-sync service has
finished the avatar, so a failed creation never leaves a tutor behind. If that transaction
fails, the avatar is deleted again through the gateway. Progress goes into an AvatarJob row the
admin page polls.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from web_backend.app import crud, models, schemas
from web_backend.app.core.gateway import (
    AvatarInfo,
    AvatarProgress,
    AvatarSpec,
    GatewayClient,
    GatewayError,
)
from web_backend.app.core.uploads import move_into

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AvatarJobRequest:
    """What one create-with-avatar request asked for (files already saved)."""

    job_id: str
    tenant_id: str
    tutor: schemas.TutorCreate
    spec: AvatarSpec
    video_path: Path
    voice_path: Path | None = None
    voice_extension: str = ""


class AvatarJobRunner:
    """Runs avatar jobs as tasks it owns; `stop` cancels those still running.

    Args:
        sessions: database session factory.
        gateway: the gateway client.
        voices_dir: where voice samples are kept once their tutor exists.
    """

    def __init__(
        self, sessions: sessionmaker[Session], gateway: GatewayClient, voices_dir: Path
    ) -> None:
        self._sessions = sessions
        self._gateway = gateway
        self._voices_dir = voices_dir
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, request: AvatarJobRequest) -> asyncio.Task[None]:
        """Starts a job in the background."""
        task = asyncio.create_task(self.run(request), name=f"avatar-job-{request.job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def stop(self) -> None:
        """Cancels running jobs and waits for their cleanup."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def run(self, request: AvatarJobRequest) -> None:
        """Runs one job to success or a cleaned-up failure."""
        job_id = request.job_id
        made: AvatarInfo | None = None
        try:
            await self._update(job_id, state="running", stage="receiving", message="uploading")
            async for event in self._gateway.create_avatar(request.spec, request.video_path):
                if isinstance(event, AvatarProgress):
                    await self._update(
                        job_id, stage=event.stage, percent=event.percent, message=event.message
                    )
                else:
                    made = event
            if made is None:
                raise GatewayError("INTERNAL", "the gateway sent no avatar", 502)
            await self._update(job_id, stage="saving", percent=99.0, message="saving the tutor")
            tutor_id, avatar_id = await asyncio.to_thread(self._save, request, made)
        except asyncio.CancelledError:
            await self._fail(request, "cancelled: the backend is shutting down", made)
            raise
        except GatewayError as error:
            logger.info("avatar job %s failed in the gateway: %s", job_id, error.code)
            await self._fail(request, error.message, made)
        except Exception:
            logger.exception("avatar job %s failed", job_id)
            await self._fail(request, "the tutor could not be saved", made)
        else:
            await self._update(
                job_id,
                state="succeeded",
                stage="done",
                percent=100.0,
                message="ready",
                tutor_id=tutor_id,
                avatar_id=avatar_id,
            )
            logger.info("avatar job %s made tutor %s", job_id, tutor_id)
        finally:
            request.video_path.unlink(missing_ok=True)
            if request.voice_path is not None:
                request.voice_path.unlink(missing_ok=True)

    def _save(self, request: AvatarJobRequest, made: AvatarInfo) -> tuple[str, str]:
        # One transaction for both rows: either both exist afterwards or neither does.
        kept_voice: Path | None = None
        with self._sessions() as db:
            try:
                avatar = models.Avatar(
                    tenant_id=request.tenant_id,
                    avatar_key=made.avatar_key,
                    display_name=made.display_name or request.spec.display_name,
                    engine=made.engine,
                    width=made.width,
                    height=made.height,
                    idle_fps=made.idle_fps,
                    size_bytes=made.size_bytes,
                )
                db.add(avatar)
                tutor = crud.create_tutor(
                    db=db,
                    tenant_id=request.tenant_id,
                    data=request.tutor,
                    avatar=avatar,
                    commit=False,
                )
                if request.voice_path is not None:
                    kept_voice = self._voices_dir / f"{tutor.id}{request.voice_extension}"
                    move_into(request.voice_path, kept_voice)
                    tutor.voice_sample = kept_voice.name
                db.commit()
            except BaseException:
                db.rollback()
                if kept_voice is not None:
                    kept_voice.unlink(missing_ok=True)
                raise
            return tutor.id, avatar.id

    async def _fail(self, request: AvatarJobRequest, error: str, made: AvatarInfo | None) -> None:
        # The lip-sync service may hold a finished or half-made avatar: delete it so nothing
        # is left behind (NOT_FOUND means there was nothing to delete).
        try:
            await self._gateway.delete_avatar(request.spec.avatar_key)
        except GatewayError as cleanup_error:
            if cleanup_error.code != "NOT_FOUND":
                logger.warning(
                    "avatar %s may be orphaned: delete failed (%s)",
                    request.spec.avatar_key,
                    cleanup_error.code,
                )
        except asyncio.CancelledError:
            pass
        if made is not None:
            logger.info("avatar %s deleted after a failed save", made.avatar_key)
        await self._update(request.job_id, state="failed", error=error, message="failed")

    async def _update(self, job_id: str, **fields: object) -> None:
        def write() -> None:
            with self._sessions() as db:
                crud.update_job(db=db, job_id=job_id, **fields)

        # Shielded so a failure is recorded even while the task is being cancelled.
        await asyncio.shield(asyncio.to_thread(write))
