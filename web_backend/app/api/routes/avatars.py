"""Avatars of the tenant: list, get, delete (with their assets), preview image."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from web_backend.app import crud, schemas
from web_backend.app.api.deps import AnyCaller, CurrentAdmin, Gateway, SessionDep, avatar_of
from web_backend.app.core.gateway import GatewayError

router = APIRouter(prefix="/api/avatars", tags=["avatars"])


@router.get("")
def list_avatars(db: SessionDep, admin: CurrentAdmin) -> list[schemas.AvatarPublic]:
    """The tenant's avatars, newest first."""
    avatars = crud.list_avatars(db=db, tenant_id=admin.tenant_id)
    return [schemas.AvatarPublic.model_validate(a) for a in avatars]


@router.get("/{avatar_id}")
def get_avatar(avatar_id: str, db: SessionDep, admin: CurrentAdmin) -> schemas.AvatarPublic:
    """One avatar."""
    return schemas.AvatarPublic.model_validate(avatar_of(db, admin, avatar_id))


@router.delete("/{avatar_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_avatar(
    avatar_id: str, db: SessionDep, admin: CurrentAdmin, gateway: Gateway
) -> None:
    """Deletes an avatar's assets in the lip-sync service, then its row.

    Tutors that used it fall back to the built-in avatar.
    """
    avatar = avatar_of(db, admin, avatar_id)
    try:
        await gateway.delete_avatar(avatar.avatar_key)
    except GatewayError as error:
        # Already gone there: the row is all that is left to delete.
        if error.code != "NOT_FOUND":
            raise
    crud.delete_row(db=db, row=avatar)


@router.get(
    "/{avatar_id}/preview",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def avatar_preview(
    avatar_id: str, db: SessionDep, caller: AnyCaller, gateway: Gateway
) -> Response:
    """The avatar's preview image (students see it too, to pick a tutor)."""
    avatar = avatar_of(db, caller, avatar_id)
    image, mime_type = await gateway.avatar_preview(avatar.avatar_key)
    return Response(image, media_type=mime_type, headers={"Cache-Control": "private, max-age=60"})
