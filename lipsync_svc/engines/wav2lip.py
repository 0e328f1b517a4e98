"""The wav2lip engine: the Wav2Lip network in torch, batched across streams, pasted back softly.

torch is imported in ``start()`` only, so the service (and avatar preparation for this engine)
runs without it until this engine is chosen. Per frame: the stream's audio is resampled to
16 kHz and its mel window taken (wav2lip_mel); the idle frame's face crop (cached per avatar,
96x96) is fed with its lower half masked plus itself as the reference; the 96x96 output is
scaled back to the crop and blended into the frame with a feathered mask over the lower face.
One thread runs every forward pass, merging the frames all streams have waiting into batches
of up to ``LIPSYNC_BATCH_SIZE``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import soxr

from lipsync_svc.avatar import LoadedAvatar
from lipsync_svc.config import LipsyncSettings
from lipsync_svc.engines.base import EngineCapabilities, EngineStream, FrameRequest, LipsyncEngine
from lipsync_svc.frames import FaceBox
from lipsync_svc.wav2lip_mel import SAMPLE_RATE, MelStream
from svc_core.server import StartupError

logger = logging.getLogger(__name__)

IMG_SIZE = 96
FACES_CACHE = "wav2lip_faces"
CROPS_CACHE = "wav2lip_crops"

Forward = Callable[[np.ndarray, np.ndarray], np.ndarray]


def crop_rect(box: FaceBox, padding: float, width: int, height: int) -> tuple[int, int, int, int]:
    """The face crop (x0, y0, x1, y1) for ``box`` with ``padding`` (a fraction of its size).

    The margin below the box is twice that above it, to keep the chin in the crop when the
    jaw drops (the original pads its detector's boxes downwards for the same reason).
    """
    pad = padding * max(box.w, box.h)
    x0 = round(max(0.0, box.x - pad / 2))
    x1 = round(min(float(width), box.x + box.w + pad / 2))
    y0 = round(max(0.0, box.y - pad / 4))
    y1 = round(min(float(height), box.y + box.h + pad / 2))
    return x0, y0, max(x1, x0 + 2), max(y1, y0 + 2)


def face_crops(avatar: LoadedAvatar) -> tuple[np.ndarray, np.ndarray]:
    """Per idle frame: the crop rectangles (N, 4) int32 and the 96x96 face crops (N, 96, 96, 3)."""
    height, width = avatar.frames.shape[1:3]
    rects = np.zeros((avatar.frame_count, 4), dtype=np.int32)
    faces = np.zeros((avatar.frame_count, IMG_SIZE, IMG_SIZE, 3), dtype=np.uint8)
    for index in range(avatar.frame_count):
        x0, y0, x1, y1 = crop_rect(avatar.box(index), avatar.face_padding, width, height)
        rects[index] = (x0, y0, x1, y1)
        faces[index] = cv2.resize(
            avatar.frames[index][y0:y1, x0:x1], (IMG_SIZE, IMG_SIZE), interpolation=cv2.INTER_AREA
        )
    return rects, faces


def _crop_cache(name: str) -> Callable[[LoadedAvatar], np.ndarray]:
    def build(avatar: LoadedAvatar) -> np.ndarray:
        rects, faces = face_crops(avatar)
        return rects if name == CROPS_CACHE else faces

    return build


def model_inputs(mels: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Network inputs as the original builds them.

    Args:
        mels: (B, 80, 16) mel windows.
        faces: (B, 96, 96, 3) BGR uint8 face crops.

    Returns:
        (B, 1, 80, 16) audio and (B, 6, 96, 96) faces (lower half masked, then the reference),
        float32 with pixels in [0, 1].
    """
    reference = faces.astype(np.float32) / 255.0
    masked = reference.copy()
    masked[:, IMG_SIZE // 2 :] = 0.0
    stacked = np.concatenate([masked, reference], axis=3).transpose(0, 3, 1, 2)
    return mels[:, None].astype(np.float32), np.ascontiguousarray(stacked)


@functools.cache
def _feather_base() -> np.ndarray:
    base = np.zeros((IMG_SIZE, IMG_SIZE), dtype=np.float32)
    # The lower face, three blur widths in from the crop's edges so the blend fades to
    # nothing there (no seam where the crop ends).
    base[
        int(0.45 * IMG_SIZE) : int(0.88 * IMG_SIZE), int(0.12 * IMG_SIZE) : int(0.88 * IMG_SIZE)
    ] = 1
    blurred = cv2.GaussianBlur(base, (0, 0), 0.04 * IMG_SIZE)
    # Cut the blur's faint tails, so pixels away from the lower face stay exactly as they were.
    return np.clip((blurred - 0.01) / 0.98, 0.0, 1.0).astype(np.float32)


def feather_mask(width: int, height: int) -> np.ndarray:
    """Blend weights (height, width) in [0, 1]: the lower face, with soft edges all round."""
    return cv2.resize(_feather_base(), (width, height), interpolation=cv2.INTER_LINEAR)


def paste_back(frame: np.ndarray, face: np.ndarray, rect: Sequence[int]) -> np.ndarray:
    """A copy of ``frame`` with the generated 96x96 ``face`` blended into ``rect``."""
    x0, y0, x1, y1 = (int(v) for v in rect)
    width, height = x1 - x0, y1 - y0
    scaled = cv2.resize(face, (width, height), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    region = frame[y0:y1, x0:x1].astype(np.float32)
    mask = feather_mask(width, height)[..., None]
    out = frame.copy()
    out[y0:y1, x0:x1] = np.clip(region + (scaled - region) * mask + 0.5, 0, 255).astype(np.uint8)
    return out


@dataclass
class _Job:
    mels: np.ndarray
    faces: np.ndarray
    future: concurrent.futures.Future[np.ndarray]


class BatchRunner:
    """Runs every forward pass on one thread, merging the frames of all waiting streams.

    A job is never held back to wait for others (that would add latency); whatever is queued
    when the thread is free goes into the next pass, up to ``batch_size`` frames.
    """

    def __init__(self, forward: Forward, batch_size: int) -> None:
        self._forward = forward
        self._batch_size = batch_size
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="wav2lip-batches", daemon=True)
        self._thread.start()
        self.passes = 0

    def run(self, mels: np.ndarray, faces: np.ndarray) -> np.ndarray:
        """Generated faces for these inputs (blocks until done)."""
        job = _Job(mels, faces, concurrent.futures.Future())
        self._queue.put(job)
        return job.future.result()

    def close(self) -> None:
        """Stops the thread after the queued jobs."""
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            jobs = [job]
            count = len(job.mels)
            while count < self._batch_size:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)
                    break
                jobs.append(more)
                count += len(more.mels)
            try:
                mels = np.concatenate([j.mels for j in jobs])
                faces = np.concatenate([j.faces for j in jobs])
                outputs = []
                for start in range(0, len(mels), self._batch_size):
                    end = start + self._batch_size
                    outputs.append(self._forward(mels[start:end], faces[start:end]))
                    self.passes += 1
                result = np.concatenate(outputs)
            except BaseException as exc:
                for j in jobs:
                    j.future.set_exception(exc)
                continue
            offset = 0
            for j in jobs:
                j.future.set_result(result[offset : offset + len(j.mels)])
                offset += len(j.mels)


class Wav2LipStream(EngineStream):
    """One stream: resampling to 16 kHz, mel windows, batched generation, paste-back."""

    def __init__(self, runner: BatchRunner, avatar: LoadedAvatar, sample_rate: int) -> None:
        self._runner = runner
        self._avatar = avatar
        self._mel = MelStream()
        self._resampler = (
            None
            if sample_rate == SAMPLE_RATE
            else soxr.ResampleStream(sample_rate, SAMPLE_RATE, 1, dtype="float32", quality="HQ")
        )
        self._rects = avatar.cache(CROPS_CACHE, _crop_cache(CROPS_CACHE))
        self._faces = avatar.cache(FACES_CACHE, _crop_cache(FACES_CACHE))

    def render(self, requests: Sequence[FrameRequest]) -> list[np.ndarray]:
        windows = []
        for request in requests:
            audio = request.audio.astype(np.float32)
            if self._resampler is not None:
                audio = self._resampler.resample_chunk(audio, last=False)
            self._mel.push(audio)
            windows.append(self._mel.window())
        idle = [request.idle_index for request in requests]
        generated = self._runner.run(np.stack(windows), self._faces[idle])
        return [
            paste_back(self._avatar.frames[i], face, self._rects[i])
            for i, face in zip(idle, generated, strict=True)
        ]


class Wav2LipEngine(LipsyncEngine):
    """Wav2Lip from a checkpoint (``LIPSYNC_WAV2LIP_CHECKPOINT``), on CPU (bf16) or CUDA (fp16)."""

    name = "wav2lip"
    capabilities = EngineCapabilities(uses_visemes=False, batched=True, accelerated=True)

    def __init__(self, settings: LipsyncSettings) -> None:
        super().__init__(settings)
        self._runner: BatchRunner | None = None
        self.device = ""
        self.autocast_dtype: Any = None

    @classmethod
    def build_avatar_cache(cls, avatar: LoadedAvatar) -> dict[str, np.ndarray]:
        rects, faces = face_crops(avatar)
        return {CROPS_CACHE: rects, FACES_CACHE: faces}

    async def start(self) -> None:
        await asyncio.to_thread(self._load)

    def _load(self) -> None:
        try:
            import torch
        except ImportError:
            raise StartupError(
                "the wav2lip engine needs torch: pip install torch==2.13.0, then "
                "pip install -e '.[lipsync-wav2lip]' (or set LIPSYNC_ENGINE=procedural)"
            ) from None
        from lipsync_svc.wav2lip_model import Wav2Lip, clean_state_dict

        path = self.settings.wav2lip_checkpoint
        if path is None:
            raise StartupError(
                "set LIPSYNC_WAV2LIP_CHECKPOINT to a Wav2Lip generator checkpoint (.pth), "
                "or set LIPSYNC_ENGINE=procedural"
            )
        if not path.is_file():
            raise StartupError(f"LIPSYNC_WAV2LIP_CHECKPOINT={path} does not exist")
        self.device = self._device(torch)
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
            model = Wav2Lip()
            model.load_state_dict(clean_state_dict(checkpoint))
        except Exception as exc:
            raise StartupError(f"cannot load the Wav2Lip checkpoint {path}: {exc}") from exc
        model = model.to(self.device).eval()
        if self.settings.wav2lip_precision == "auto":
            self.autocast_dtype = torch.float16 if self.device == "cuda" else torch.bfloat16

        def forward(mels: np.ndarray, faces: np.ndarray) -> np.ndarray:
            audio, images = model_inputs(mels, faces)
            with (
                torch.inference_mode(),
                torch.autocast(
                    self.device, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None
                ),
            ):
                out = model(
                    torch.from_numpy(audio).to(self.device),
                    torch.from_numpy(images).to(self.device),
                )
            pixels = out.float().clamp(0, 1).mul(255).round().byte()
            return pixels.permute(0, 2, 3, 1).cpu().numpy()

        started = time.perf_counter()
        warm = np.zeros((min(2, self.settings.batch_size), IMG_SIZE, IMG_SIZE, 3), np.uint8)
        forward(np.zeros((len(warm), 80, 16), np.float32), warm)
        logger.info(
            "wav2lip loaded from %s on %s (%s), warm-up %.0f ms",
            path,
            self.device,
            self.autocast_dtype or "fp32",
            (time.perf_counter() - started) * 1000,
        )
        self._runner = BatchRunner(forward, self.settings.batch_size)

    def _device(self, torch: Any) -> str:
        wanted = self.settings.device
        if wanted == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if wanted == "cuda" and not torch.cuda.is_available():
            raise StartupError("LIPSYNC_DEVICE=cuda but torch sees no CUDA device")
        return wanted

    @property
    def runner(self) -> BatchRunner:
        """The shared batch runner (after start)."""
        if self._runner is None:
            raise RuntimeError("the wav2lip engine is not loaded")
        return self._runner

    async def close(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await asyncio.to_thread(runner.close)

    def open_stream(self, avatar: LoadedAvatar, sample_rate: int, fps: int) -> EngineStream:
        return Wav2LipStream(self.runner, avatar, sample_rate)
