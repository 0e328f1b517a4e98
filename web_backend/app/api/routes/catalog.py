"""Voices and LLM models the admin can choose for a tutor."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from web_backend.app import schemas
from web_backend.app.api.deps import CurrentAdmin, Gateway

router = APIRouter(prefix="/api/catalog", tags=["catalog"])


@router.get("")
async def catalog(admin: CurrentAdmin, gateway: Gateway) -> schemas.Catalog:
    """The TTS voices and LLM models available through the gateway."""
    (voices, default_voice), (models, default_model) = await asyncio.gather(
        gateway.list_voices(), gateway.list_models()
    )
    return schemas.Catalog(
        voices=[schemas.VoicePublic(**vars(v)) for v in voices],
        default_voice=default_voice,
        models=[schemas.ModelPublic(**vars(m)) for m in models],
        default_model=default_model,
    )
