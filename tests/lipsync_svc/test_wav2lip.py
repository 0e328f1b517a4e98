"""The wav2lip engine on a random-weight checkpoint the tests make: network, loading, batching
and paste-back. Skipped where torch is not installed."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.unit

from lipsync_svc.config import LipsyncSettings  # noqa: E402
from lipsync_svc.engines.base import FrameRequest  # noqa: E402
from lipsync_svc.engines.wav2lip import (  # noqa: E402
    BatchRunner,
    Wav2LipEngine,
    crop_rect,
    feather_mask,
    model_inputs,
    paste_back,
)
from lipsync_svc.frames import FaceBox  # noqa: E402
from lipsync_svc.server import LipsyncServicer  # noqa: E402
from lipsync_svc.wav2lip_model import Wav2Lip  # noqa: E402
from svc_core.server import StartupError  # noqa: E402


@pytest.fixture(scope="module")
def engine(wav2lip_checkpoint: Path) -> Iterator[Wav2LipEngine]:
    engine = Wav2LipEngine(
        LipsyncSettings(
            engine="wav2lip", wav2lip_checkpoint=wav2lip_checkpoint, device="cpu", batch_size=4
        )
    )
    asyncio.run(engine.start())
    yield engine
    asyncio.run(engine.close())


def test_the_network_maps_mel_windows_and_faces_to_faces() -> None:
    model = Wav2Lip().eval()
    mels = np.random.default_rng(0).uniform(-4, 4, (3, 80, 16)).astype(np.float32)
    faces = np.random.default_rng(1).integers(0, 255, (3, 96, 96, 3), dtype=np.uint8)
    audio, images = model_inputs(mels, faces)
    assert audio.shape == (3, 1, 80, 16) and images.shape == (3, 6, 96, 96)
    # The first three channels are the face with its lower half masked, the last three the
    # reference face.
    assert np.all(images[:, :3, 48:] == 0)
    assert np.allclose(images[:, :3, :48], faces[:, :48].transpose(0, 3, 1, 2) / 255)
    assert np.allclose(images[:, 3:], faces.transpose(0, 3, 1, 2) / 255)
    with torch.inference_mode():
        out = model(torch.from_numpy(audio), torch.from_numpy(images))
    assert out.shape == (3, 3, 96, 96)
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    assert sum(p.numel() for p in model.parameters()) > 30_000_000  # the original's size


@pytest.mark.parametrize("layout", ["plain", "trainer"])
def test_checkpoints_load_in_either_layout(tmp_path: Path, layout: str) -> None:
    model = Wav2Lip()
    state = model.state_dict()
    if layout == "trainer":
        saved: dict = {"state_dict": {f"module.{k}": v for k, v in state.items()}}
    else:
        saved = state
    torch.save(saved, tmp_path / "w.pth")
    engine = Wav2LipEngine(
        LipsyncSettings(engine="wav2lip", wav2lip_checkpoint=tmp_path / "w.pth", device="cpu")
    )
    asyncio.run(engine.start())
    asyncio.run(engine.close())


def test_a_missing_or_wrong_checkpoint_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="LIPSYNC_WAV2LIP_CHECKPOINT"):
        asyncio.run(Wav2LipEngine(LipsyncSettings(engine="wav2lip")).start())
    with pytest.raises(StartupError, match="does not exist"):
        asyncio.run(
            Wav2LipEngine(
                LipsyncSettings(engine="wav2lip", wav2lip_checkpoint=tmp_path / "none.pth")
            ).start()
        )
    torch.save({"state_dict": {"conv.weight": torch.zeros(3)}}, tmp_path / "other.pth")
    with pytest.raises(StartupError, match="cannot load"):
        asyncio.run(
            Wav2LipEngine(
                LipsyncSettings(engine="wav2lip", wav2lip_checkpoint=tmp_path / "other.pth")
            ).start()
        )


def test_the_runner_merges_waiting_streams_into_batches() -> None:
    sizes: list[int] = []
    gate = threading.Event()

    def forward(mels: np.ndarray, faces: np.ndarray) -> np.ndarray:
        gate.wait(5)
        sizes.append(len(mels))
        return faces + 1  # tells each frame's output apart

    runner = BatchRunner(forward, batch_size=8)
    results: dict[int, np.ndarray] = {}

    def submit(stream: int) -> None:
        faces = np.full((2, 96, 96, 3), stream * 10, np.uint8)
        results[stream] = runner.run(np.zeros((2, 80, 16), np.float32), faces)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(5)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)  # all five jobs queue behind the first pass
    gate.set()
    for thread in threads:
        thread.join(5)
    runner.close()
    # 10 frames from 5 streams in fewer passes than jobs, none over the batch size.
    assert sum(sizes) == 10 and len(sizes) < 5 and max(sizes) <= 8
    for stream, out in results.items():
        assert out.shape == (2, 96, 96, 3) and np.all(out == stream * 10 + 1)


def test_paste_back_blends_only_the_lower_face_with_soft_edges() -> None:
    frame = np.full((200, 200, 3), 100, np.uint8)
    rect = crop_rect(FaceBox(50, 40, 100, 100), 0.25, 200, 200)
    assert rect[0] < 50 and rect[2] > 150 and rect[3] > 140
    face = np.full((96, 96, 3), 250, np.uint8)
    out = paste_back(frame, face, rect)
    x0, y0, x1, y1 = rect
    outside = np.ones((200, 200), bool)
    outside[y0:y1, x0:x1] = False
    assert np.all(out[outside] == 100)  # nothing outside the crop changes
    assert np.all(out[y0 : y0 + (y1 - y0) // 3, x0:x1] == 100)  # nor the upper face
    # The blend fades out before the crop's edges: no seam.
    assert np.all(out[y1 - 1, x0:x1] == 100) and np.all(out[y0:y1, x0] == 100)
    centre_lower = out[y0 + 3 * (y1 - y0) // 4, (x0 + x1) // 2]
    assert np.all(centre_lower > 240)  # the generated lower face shows
    mask = feather_mask(x1 - x0, y1 - y0)
    assert mask.min() >= 0 and mask.max() <= 1
    column = mask[:, (x1 - x0) // 2]
    assert np.abs(np.diff(column)).max() < 0.2  # feathered, no hard edge


def test_engine_streams_render_batches_of_full_frames(
    engine: Wav2LipEngine, tmp_path: Path
) -> None:
    service = LipsyncServicer.from_settings(
        LipsyncSettings(engine="wav2lip", data_dir=tmp_path, default_avatar_size=256)
    )
    service.store.open()
    avatar = service.store.default
    stream = engine.open_stream(avatar, 24000, 25)
    requests = [
        FrameRequest(
            index=i,
            idle_index=i,
            audio=np.random.default_rng(i).normal(0, 0.1, 960).astype(np.float32),
        )
        for i in range(6)
    ]
    frames = stream.render(requests[:4]) + stream.render(requests[4:])
    assert len(frames) == 6
    for index, frame in enumerate(frames):
        assert frame.shape == (256, 256, 3) and frame.dtype == np.uint8
        # The top of the picture is the idle frame; the lower face is generated.
        assert np.array_equal(frame[:60], avatar.frames[index][:60])
        assert not np.array_equal(frame, avatar.frames[index])
    assert engine.autocast_dtype == torch.bfloat16
