"""Assembles lipsync_svc: settings -> engine, avatar store, creator, servicer, start and stop."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from vtutor.lipsync.v1 import lipsync_pb2, lipsync_pb2_grpc

from lipsync_svc.avatar_creation import AvatarCreator
from lipsync_svc.avatar_store import AvatarStore
from lipsync_svc.config import LipsyncSettings
from lipsync_svc.engines.base import LipsyncEngine, create_engine
from lipsync_svc.server import LipsyncServicer
from svc_core.server import ServiceBinding, ServiceParts

logger = logging.getLogger(__name__)


@dataclass
class LipsyncService:
    """The parts of a running lipsync_svc."""

    settings: LipsyncSettings
    engine: LipsyncEngine
    store: AvatarStore
    creator: AvatarCreator
    servicer: LipsyncServicer

    @classmethod
    def build(cls, settings: LipsyncSettings) -> LipsyncService:
        """The parts, constructed; nothing is loaded until ``start``."""
        engine = create_engine(settings)
        store = AvatarStore(
            settings.avatars_dir,
            engine_name=settings.engine,
            idle_fps=settings.idle_fps,
            default_size=settings.default_avatar_size,
            cache_size=settings.avatar_cache_size,
        )
        creator = AvatarCreator(store, max_video_bytes=settings.max_video_bytes)
        servicer = LipsyncServicer(settings, engine, store, creator)
        return cls(settings, engine, store, creator, servicer)

    @property
    def binding(self) -> ServiceBinding:
        """The servicer, ready to host."""
        return ServiceBinding.of(self.servicer, lipsync_pb2_grpc, lipsync_pb2)

    async def start(self) -> None:
        """Opens the avatar store and loads the engine (off the event loop)."""
        await asyncio.to_thread(self.store.open)
        await asyncio.to_thread(self.engine.load)
        self.servicer.ready.set()
        logger.info("engine %s ready; avatars in %s", self.engine.name, self.store.root)

    async def stop(self) -> None:
        """Waits for clean-ups of cancelled creations, then releases the engine."""
        await self.creator.wait_idle()
        await asyncio.to_thread(self.engine.close)

    def parts(self) -> ServiceParts:
        """What ``run_service`` needs: bindings, startup, shutdown."""
        return [self.binding], self.start, self.stop
