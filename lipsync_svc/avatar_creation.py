"""One CreateAvatar call: receive the video, prepare it off the event loop, report progress.

The build runs in a worker thread; its progress comes back through a queue. Whatever ends the
call early (bad input, no face, the client cancelling) sets the build's cancel flag and removes
its temporary folder; for errors the folder is gone before the error reaches the client, for a
cancelled call it goes as soon as the worker stops.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator

from lipsync_svc.avatar import AvatarInfo, AvatarSpec
from lipsync_svc.avatar_builder import BuildProgress, Stage, prepare_avatar
from lipsync_svc.avatar_store import AvatarStore, Draft
from lipsync_svc.engines import engine_class
from svc_core.errors import InvalidArgument, ResourceExhausted

logger = logging.getLogger(__name__)

MAX_CHUNK_BYTES = 1024 * 1024
_DONE = object()


class AvatarCreator:
    """Runs avatar creations and owns the clean-up tasks they leave when cancelled."""

    def __init__(self, store: AvatarStore, *, max_video_bytes: int) -> None:
        self._store = store
        self._max_video_bytes = max_video_bytes
        self._cleanups: set[asyncio.Task[None]] = set()

    async def create(
        self, spec: AvatarSpec, chunks: AsyncIterator[bytes]
    ) -> AsyncIterator[BuildProgress | AvatarInfo]:
        """Progress events, then the avatar.

        Raises:
            AlreadyExists, InvalidArgument, ResourceExhausted: as lipsync.proto says.
        """
        draft = self._store.reserve(spec.avatar_id)
        cancelled = threading.Event()
        work: asyncio.Future[AvatarInfo] | None = None
        try:
            yield BuildProgress(Stage.RECEIVING, 0, "receiving the video")
            size = await self._receive(draft, chunks)
            yield BuildProgress(Stage.RECEIVING, 5, f"received {size} bytes")
            loop = asyncio.get_running_loop()
            progress: asyncio.Queue[object] = asyncio.Queue()

            def report(event: BuildProgress) -> None:
                loop.call_soon_threadsafe(progress.put_nowait, event)

            def build() -> AvatarInfo:
                try:
                    prepared = prepare_avatar(
                        draft.video_path,
                        spec,
                        idle_fps=self._store.idle_fps,
                        engine=engine_class(spec.engine),
                        report=report,
                        cancelled=cancelled,
                    )
                    report(BuildProgress(Stage.SAVING, 90, "writing files"))
                    return self._store.save(draft, prepared, spec.options, report, cancelled)
                finally:
                    loop.call_soon_threadsafe(progress.put_nowait, _DONE)

            work = loop.run_in_executor(None, build)
            while (event := await progress.get()) is not _DONE:
                assert isinstance(event, BuildProgress)
                yield event
            info = await work
        except BaseException as exc:
            cancelled.set()
            cleanup = self._clean_up(draft, work)
            if not isinstance(exc, asyncio.CancelledError | GeneratorExit):
                await cleanup
            raise
        self._store.release(draft)
        logger.info("avatar %s created (%d frames)", info.avatar_id, info.idle_frame_count)
        yield info

    async def _receive(self, draft: Draft, chunks: AsyncIterator[bytes]) -> int:
        size = 0
        with draft.video_path.open("wb") as out:
            async for chunk in chunks:
                if len(chunk) > MAX_CHUNK_BYTES:
                    raise InvalidArgument(
                        f"video chunk of {len(chunk)} bytes exceeds {MAX_CHUNK_BYTES} bytes"
                    )
                size += len(chunk)
                if size > self._max_video_bytes:
                    raise ResourceExhausted(
                        f"the video exceeds the limit of {self._max_video_bytes} bytes"
                    )
                await asyncio.to_thread(out.write, chunk)
        if size == 0:
            raise InvalidArgument("no video was sent: send video_chunk messages after the spec")
        return size

    def _clean_up(
        self, draft: Draft, work: asyncio.Future[AvatarInfo] | None
    ) -> asyncio.Task[None]:
        async def clean_up() -> None:
            if work is not None:
                # The worker stops at its next check of the cancel flag.
                await asyncio.gather(work, return_exceptions=True)
            await asyncio.to_thread(self._store.release, draft)

        task = asyncio.get_running_loop().create_task(clean_up())
        self._cleanups.add(task)
        task.add_done_callback(self._cleanups.discard)
        return task

    async def wait_idle(self) -> None:
        """Waits for pending clean-ups (at shutdown, and in tests)."""
        while self._cleanups:
            await asyncio.gather(*list(self._cleanups), return_exceptions=True)
