"""Avatars on disk and in memory: the built-in drawn one, and those made from videos.

Layout: ``<data_dir>/avatars/<id>/`` holds ``avatar.json`` (description, options, a face box per
frame), ``preview.jpg``, ``idle/000000.jpg``... (the loop) and ``cache/<name>.npy`` (engine
data). A new avatar is built in ``.tmp-<id>-<random>/`` beside them and renamed into place in
one step, so an avatar folder is always complete; a failed or cancelled build removes its
temporary folder, and leftovers of a crashed process are removed at start. Blocking methods are
called from worker threads; one lock guards the in-memory state.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lipsync_svc.avatar import (
    AVATAR_ID_PATTERN,
    DEFAULT_AVATAR_ID,
    AvatarInfo,
    AvatarOptions,
    LoadedAvatar,
)
from lipsync_svc.avatar_builder import BuildProgress, PreparedAvatar, Report, Stage
from lipsync_svc.drawn_face import DrawnFace
from lipsync_svc.frames import encode_jpeg
from lipsync_svc.video_source import check_cancelled
from svc_core.errors import AlreadyExists, FailedPrecondition, NotFound

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
TEMP_PREFIX = ".tmp-"
TRASH_PREFIX = ".trash-"
# Frames are kept as high-quality JPEG: a tenth of the size of PNG, no visible loss.
FRAME_QUALITY = 95
DEFAULT_LOOP_SECONDS = 4


@dataclass(frozen=True)
class Draft:
    """An avatar being built: its reserved id and temporary folder."""

    avatar_id: str
    folder: Path

    @property
    def video_path(self) -> Path:
        """Where the uploaded video is written."""
        return self.folder / "upload.video"


def _folder_size(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(FileNotFoundError):  # deleted meanwhile
                total += (Path(root) / name).stat().st_size
    return total


def _read_frame(path: Path) -> np.ndarray:
    frame = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
    if frame is None:
        raise OSError(f"{path} is not a readable JPEG")
    return frame


class AvatarStore:
    """Lists, loads, creates and deletes avatars.

    Args:
        root: Folder holding one sub-folder per avatar.
        engine_name: The service's engine (what the built-in avatar is prepared for).
        idle_fps: Frame rate of idle loops.
        default_size: Side of the built-in avatar's frames.
        cache_size: Avatars kept decoded in memory.
    """

    def __init__(
        self,
        root: Path,
        *,
        engine_name: str,
        idle_fps: int = 25,
        default_size: int = 512,
        cache_size: int = 4,
    ) -> None:
        self.root = root
        self.engine_name = engine_name
        self.idle_fps = idle_fps
        self._default_size = default_size
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._loaded: OrderedDict[str, LoadedAvatar] = OrderedDict()
        self._reserved: set[str] = set()
        self._default: LoadedAvatar | None = None

    # -- start -------------------------------------------------------------------------------

    def open(self) -> None:
        """Creates the folder, removes a crashed process's leftovers, draws the default avatar."""
        self.root.mkdir(parents=True, exist_ok=True)
        for entry in self.root.iterdir():
            if entry.name.startswith((TEMP_PREFIX, TRASH_PREFIX)):
                logger.info("removing leftover %s", entry.name)
                shutil.rmtree(entry, ignore_errors=True)
        self._default = self._draw_default()

    def _draw_default(self) -> LoadedAvatar:
        loop = self.idle_fps * DEFAULT_LOOP_SECONDS
        face = DrawnFace(self._default_size, loop)
        frames = np.stack([face.render(i) for i in range(loop)])
        frames.flags.writeable = False
        boxes = np.stack([face.face_box(i).as_array() for i in range(loop)])
        info = AvatarInfo(
            avatar_id=DEFAULT_AVATAR_ID,
            display_name="Built-in drawn tutor",
            engine=self.engine_name,
            width=self._default_size,
            height=self._default_size,
            idle_frame_count=loop,
            idle_fps=self.idle_fps,
            builtin=True,
            create_time=datetime.now(UTC),
        )
        return LoadedAvatar(info=info, frames=frames, boxes=boxes, drawn=face)

    @property
    def default(self) -> LoadedAvatar:
        """The built-in avatar."""
        if self._default is None:
            raise RuntimeError("AvatarStore.open() has not run")
        return self._default

    # -- reading -----------------------------------------------------------------------------

    def _folder(self, avatar_id: str) -> Path:
        # Ids are checked against the pattern before they become paths: nothing like "../x"
        # ever reaches the file system.
        if not AVATAR_ID_PATTERN.fullmatch(avatar_id):
            raise NotFound(f"avatar {avatar_id!r} not found")
        folder = self.root / avatar_id
        if not (folder / "avatar.json").is_file():
            raise NotFound(f"avatar {avatar_id!r} not found")
        return folder

    @staticmethod
    def _is_default(avatar_id: str) -> bool:
        return avatar_id in ("", DEFAULT_AVATAR_ID)

    def _read_meta(self, folder: Path) -> dict[str, Any]:
        meta: dict[str, Any] = json.loads((folder / "avatar.json").read_text())
        return meta

    def _info(self, folder: Path, meta: dict[str, Any]) -> AvatarInfo:
        return AvatarInfo(
            avatar_id=meta["avatar_id"],
            display_name=meta["display_name"],
            engine=meta["engine"],
            width=meta["width"],
            height=meta["height"],
            idle_frame_count=meta["idle_frame_count"],
            idle_fps=meta["idle_fps"],
            builtin=False,
            create_time=datetime.fromisoformat(meta["create_time"]),
            size_bytes=_folder_size(folder),
        )

    def get(self, avatar_id: str) -> AvatarInfo:
        """An avatar's description ("" or "default" is the built-in one).

        Raises:
            NotFound: No such avatar.
        """
        if self._is_default(avatar_id):
            return self.default.info
        folder = self._folder(avatar_id)
        return self._info(folder, self._read_meta(folder))

    def list(self) -> list[AvatarInfo]:
        """Every avatar, the built-in one included, sorted by id."""
        infos = [self.default.info]
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith(".") or not (entry / "avatar.json").is_file():
                continue
            try:
                infos.append(self._info(entry, self._read_meta(entry)))
            except (OSError, ValueError, KeyError):
                continue  # deleted while listing
        return sorted(infos, key=lambda info: info.avatar_id)

    def load(self, avatar_id: str) -> LoadedAvatar:
        """An avatar ready to animate, from memory or decoded from its files.

        Raises:
            NotFound: No such avatar.
        """
        if self._is_default(avatar_id):
            return self.default
        with self._lock:
            if avatar_id in self._loaded:
                self._loaded.move_to_end(avatar_id)
                return self._loaded[avatar_id]
        folder = self._folder(avatar_id)
        meta = self._read_meta(folder)
        frames = np.stack(
            [_read_frame(folder / "idle" / f"{i:06d}.jpg") for i in range(meta["idle_frame_count"])]
        )
        frames.flags.writeable = False
        avatar = LoadedAvatar(
            info=self._info(folder, meta),
            frames=frames,
            boxes=np.array(meta["boxes"], dtype=np.float32),
            face_padding=float(meta["options"]["face_padding"]),
        )
        cache_dir = folder / "cache"
        if cache_dir.is_dir():
            for path in cache_dir.glob("*.npy"):
                avatar.preload_cache(path.stem, np.load(path, allow_pickle=False))
        with self._lock:
            self._loaded[avatar_id] = avatar
            while len(self._loaded) > self._cache_size:
                self._loaded.popitem(last=False)
        return avatar

    def preview(self, avatar_id: str) -> tuple[bytes, int, int]:
        """(JPEG bytes, width, height) of the avatar's preview image."""
        if self._is_default(avatar_id):
            return (
                encode_jpeg(self.default.frames[0]),
                self.default.info.width,
                self.default.info.height,
            )
        folder = self._folder(avatar_id)
        meta = self._read_meta(folder)
        return (folder / "preview.jpg").read_bytes(), meta["width"], meta["height"]

    # -- deleting ----------------------------------------------------------------------------

    def delete(self, avatar_id: str) -> None:
        """Deletes an avatar and all its files.

        Raises:
            FailedPrecondition: The built-in avatar.
            NotFound: No such avatar.
        """
        if self._is_default(avatar_id):
            raise FailedPrecondition("the built-in default avatar cannot be deleted")
        folder = self._folder(avatar_id)
        trash = self.root / f"{TRASH_PREFIX}{avatar_id}-{uuid.uuid4().hex[:8]}"
        with self._lock:
            self._loaded.pop(avatar_id, None)
            try:
                # One rename takes it out of sight at once; removing the files can take longer.
                folder.rename(trash)
            except FileNotFoundError:
                raise NotFound(f"avatar {avatar_id!r} not found") from None
        shutil.rmtree(trash, ignore_errors=True)

    # -- creating ----------------------------------------------------------------------------

    def reserve(self, avatar_id: str) -> Draft:
        """Claims ``avatar_id`` for a new avatar and makes its temporary folder.

        Raises:
            AlreadyExists: The id is taken or being created.
        """
        with self._lock:
            if (
                self._is_default(avatar_id)
                or avatar_id in self._reserved
                or (self.root / avatar_id).exists()
            ):
                raise AlreadyExists(f"avatar {avatar_id!r} already exists")
            folder = self.root / f"{TEMP_PREFIX}{avatar_id}-{uuid.uuid4().hex[:8]}"
            folder.mkdir(parents=True)
            self._reserved.add(avatar_id)
        return Draft(avatar_id, folder)

    def release(self, draft: Draft) -> None:
        """Removes a draft's temporary folder (if still there) and frees its id (blocking)."""
        shutil.rmtree(draft.folder, ignore_errors=True)
        with self._lock:
            self._reserved.discard(draft.avatar_id)

    def save(
        self,
        draft: Draft,
        prepared: PreparedAvatar,
        options: AvatarOptions,
        report: Report,
        cancelled: threading.Event,
    ) -> AvatarInfo:
        """Writes a prepared avatar into its draft folder, then moves it into place.

        Raises:
            BuildCancelled: ``cancelled`` was set before the move.
        """
        avatar = prepared.avatar
        draft.video_path.unlink(missing_ok=True)
        idle_dir = draft.folder / "idle"
        idle_dir.mkdir()
        params = [cv2.IMWRITE_JPEG_QUALITY, FRAME_QUALITY]
        for index, frame in enumerate(avatar.frames):
            check_cancelled(cancelled)
            ok, data = cv2.imencode(".jpg", frame, params)
            if not ok:  # pragma: no cover - OpenCV fails only on empty images
                raise RuntimeError("JPEG encoding failed")
            data.tofile(idle_dir / f"{index:06d}.jpg")
            if index % max(1, avatar.frame_count // 10) == 0:
                report(
                    BuildProgress(
                        Stage.SAVING,
                        90 + 8 * index / avatar.frame_count,
                        f"frame {index + 1} of {avatar.frame_count}",
                    )
                )
        (draft.folder / "preview.jpg").write_bytes(encode_jpeg(avatar.frames[0]))
        if prepared.caches:
            (draft.folder / "cache").mkdir()
            for name, value in prepared.caches.items():
                np.save(draft.folder / "cache" / f"{name}.npy", value, allow_pickle=False)
        info = avatar.info
        meta = {
            "format": FORMAT_VERSION,
            "avatar_id": info.avatar_id,
            "display_name": info.display_name,
            "engine": info.engine,
            "width": info.width,
            "height": info.height,
            "idle_frame_count": info.idle_frame_count,
            "idle_fps": info.idle_fps,
            "create_time": info.create_time.isoformat(),
            "options": {
                "blur_background": options.blur_background,
                "face_padding": options.face_padding,
                "max_size": options.max_size,
                "idle_loop_seconds": options.idle_loop_seconds,
            },
            "boxes": [[round(float(v), 2) for v in box] for box in avatar.boxes],
        }
        (draft.folder / "avatar.json").write_text(json.dumps(meta))
        check_cancelled(cancelled)
        final = self.root / draft.avatar_id
        try:
            draft.folder.rename(final)
        except OSError:
            raise AlreadyExists(f"avatar {draft.avatar_id!r} already exists") from None
        report(BuildProgress(Stage.SAVING, 100, "saved"))
        return self.get(draft.avatar_id)
