"""lipsync_svc test fixtures: a real server on loopback, videos and audio made by the tests."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import av
import grpc
import numpy as np
import pytest
from vtutor.common.v1 import media_pb2
from vtutor.lipsync.v1 import lipsync_pb2, lipsync_pb2_grpc

from lipsync_svc.config import LipsyncSettings
from lipsync_svc.drawn_face import DrawnFace
from lipsync_svc.mouth import MouthShape
from lipsync_svc.server import LipsyncServicer
from tests.support.grpc_servers import running_server

CODECS = {"mp4": "libx264", "webm": "libvpx", "mov": "mpeg4"}


def face_video(
    fmt: str = "mp4",
    *,
    frames: int = 60,
    size: int = 256,
    fps: int = 25,
    face: bool = True,
    speech: bool = False,
    openings: list[float] | None = None,
) -> bytes:
    """A short video the tests make: the drawn face talking (its mouth opens and closes, or as
    ``openings`` says per frame), or, with ``face=False``, a moving gradient with no face in
    it. With ``speech`` the mp4 carries an AAC audio track of speech-like sound."""
    out = io.BytesIO()
    container = av.open(out, "w", format=fmt)
    stream = container.add_stream(CODECS[fmt], rate=fps)
    stream.width = stream.height = size
    stream.pix_fmt = "yuv420p"
    if speech:
        audio_stream = container.add_stream("aac", rate=16000)
        audio_stream.layout = "mono"
        pcm = np.frombuffer(speech_like(frames / fps), "<i2").astype(np.float32) / 32768
        for start in range(0, len(pcm) - 1023, 1024):
            chunk = av.AudioFrame.from_ndarray(pcm[None, start : start + 1024], "fltp", "mono")
            chunk.sample_rate = 16000
            chunk.pts = start
            for packet in audio_stream.encode(chunk):
                container.mux(packet)
    drawn = DrawnFace(size, 100)
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    for index in range(frames):
        if face:
            opening = (
                openings[index] if openings is not None else abs(float(np.sin(index / 4))) * 0.8
            )
            image = drawn.render(index, MouthShape(opening, 0.0))
        else:
            row = ((ramp + 6 * index) % 256).astype(np.uint8)
            image = np.repeat(np.broadcast_to(row, (size, size))[..., None], 3, axis=2)
        for packet in stream.encode(
            av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        ):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    if speech:
        for packet in audio_stream.encode():
            container.mux(packet)
    container.close()
    return out.getvalue()


def speech_like(seconds: float, *, rate: int = 16000, loud: bool = True) -> bytes:
    """Syllable-like bursts: a voiced buzz (150 Hz with harmonics) switching on and off 4 times
    a second, at speech loudness; or digital silence."""
    t = np.arange(int(seconds * rate)) / rate
    if not loud:
        return np.zeros(len(t), dtype="<i2").tobytes()
    voice = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 12))
    envelope = (np.sin(2 * np.pi * 4 * t) > -0.2).astype(np.float64)
    samples = 0.25 * voice * envelope / np.max(np.abs(voice))
    return (samples * 32767).astype("<i2").tobytes()


def animate_requests(
    pcm: bytes,
    *,
    config: lipsync_pb2.AnimateConfig | None = None,
    chunk_bytes: int = 1280,
    visemes: Iterable[lipsync_pb2.AnimateAudio] = (),
) -> list[lipsync_pb2.StreamingAnimateRequest]:
    """Config, then the audio in chunks (and any extra audio messages)."""
    requests = [lipsync_pb2.StreamingAnimateRequest(config=config or lipsync_pb2.AnimateConfig())]
    requests += [
        lipsync_pb2.StreamingAnimateRequest(
            audio=lipsync_pb2.AnimateAudio(data=pcm[i : i + chunk_bytes])
        )
        for i in range(0, len(pcm), chunk_bytes)
    ]
    requests += [lipsync_pb2.StreamingAnimateRequest(audio=audio) for audio in visemes]
    return requests


async def animate(
    stub: lipsync_pb2_grpc.LipsyncServiceStub, requests: list[lipsync_pb2.StreamingAnimateRequest]
) -> list[lipsync_pb2.StreamingAnimateResponse]:
    """Runs one StreamingAnimate call to the end."""

    async def send() -> AsyncIterator[lipsync_pb2.StreamingAnimateRequest]:
        for request in requests:
            yield request

    return [response async for response in stub.StreamingAnimate(send())]


def create_requests(
    avatar_id: str, video: bytes, *, chunk: int = 64 * 1024, **spec: object
) -> list[lipsync_pb2.CreateAvatarRequest]:
    """Spec, then the video in chunks."""
    requests = [
        lipsync_pb2.CreateAvatarRequest(spec=lipsync_pb2.AvatarSpec(avatar_id=avatar_id, **spec))
    ]  # type: ignore[arg-type]
    requests += [
        lipsync_pb2.CreateAvatarRequest(video_chunk=video[i : i + chunk])
        for i in range(0, len(video), chunk)
    ]
    return requests


async def create(
    stub: lipsync_pb2_grpc.LipsyncServiceStub, requests: list[lipsync_pb2.CreateAvatarRequest]
) -> list[lipsync_pb2.CreateAvatarResponse]:
    """Runs one CreateAvatar call to the end."""

    async def send() -> AsyncIterator[lipsync_pb2.CreateAvatarRequest]:
        for request in requests:
            yield request

    return [response async for response in stub.CreateAvatar(send())]


def rgb_frames(responses: list[lipsync_pb2.StreamingAnimateResponse]) -> list[np.ndarray]:
    """The RGB24 pictures of animate responses as (H, W, 3) arrays."""
    frames = []
    for response in responses:
        video = response.frame.video
        assert video.pixel_format == media_pb2.PIXEL_FORMAT_RGB24
        frames.append(np.frombuffer(video.data, np.uint8).reshape(video.height, video.width, 3))
    return frames


def avatar_files(settings: LipsyncSettings) -> list[Path]:
    """Every path under the avatars folder."""
    root = settings.avatars_dir
    return sorted(root.rglob("*")) if root.exists() else []


@pytest.fixture
def settings(tmp_path: Path) -> LipsyncSettings:
    """Settings with a fresh data folder, a small default avatar (fast tests), no grace."""
    return LipsyncSettings(
        port=0,
        data_dir=tmp_path / "lipsync",
        grace_period_s=0,
        default_avatar_size=256,
        max_video_bytes=4 * 1024 * 1024,
    )


@pytest.fixture
async def service(settings: LipsyncSettings) -> AsyncIterator[LipsyncServicer]:
    """A started service (store open, engine loaded)."""
    svc = LipsyncServicer.from_settings(settings)
    await svc.start()
    try:
        yield svc
    finally:
        await svc.stop()


@pytest.fixture
async def stub(service: LipsyncServicer) -> AsyncIterator[lipsync_pb2_grpc.LipsyncServiceStub]:
    """A client of the service, served on a free loopback port."""
    async with running_server([service.binding], service.settings) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            yield lipsync_pb2_grpc.LipsyncServiceStub(channel)


@pytest.fixture(scope="session")
def wav2lip_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight Wav2Lip checkpoint in the original trainer's layout (``state_dict`` with
    DataParallel's ``module.`` prefixes). Skips the test where torch is not installed."""
    torch = pytest.importorskip("torch")
    from lipsync_svc.wav2lip_model import Wav2Lip

    torch.manual_seed(0)
    state = {f"module.{key}": value for key, value in Wav2Lip().state_dict().items()}
    path = tmp_path_factory.mktemp("wav2lip") / "wav2lip_random.pth"
    torch.save({"state_dict": state, "global_step": 0}, path)
    return path
