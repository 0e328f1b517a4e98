"""``python -m benchmarks.lipsync_svc``: frames per second per engine, and 25 fps streams sustained.

Three measurements:

1. Engine throughput: one stream rendering speech-like audio as fast as it can, through the
   engine and the I420 encoder (no gRPC), at 256 and 512 px, on one core (OpenCV limited to
   one thread). The procedural engine is timed on the drawn avatar (mouth drawn) and on an
   avatar made from a video of a real face (Grace Hopper's portrait from matplotlib, swaying;
   its own mouth warped); wav2lip on the drawn avatar, with the checkpoint given or a
   random-weight one (speed does not depend on the weights).
2. Concurrent streams: the service as its own process (``python -m lipsync_svc``); N clients
   each send audio in real time (one 40 ms frame of audio every 40 ms) and read frames. N
   streams are sustained when every stream gets every frame and 95% of frames arrive within
   250 ms of their audio. N doubles until a trial fails, then bisects.
3. Avatar creation: seconds to make a procedural avatar from a 10 s 1280x720 video of the
   swaying portrait (decode, find face and lips, crop, loop, cache).

Writes bench-results/lipsync_svc.json. ``--device cuda`` runs wav2lip on a GPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc
from vtutor.lipsync.v1 import lipsync_pb2, lipsync_pb2_grpc

from lipsync_svc.avatar import AvatarOptions, AvatarSpec, LoadedAvatar
from lipsync_svc.avatar_builder import prepare_avatar
from lipsync_svc.avatar_store import AvatarStore
from lipsync_svc.config import LipsyncSettings
from lipsync_svc.drawn_face import DrawnFace
from lipsync_svc.engines import create_engine, engine_class
from lipsync_svc.engines.base import FrameRequest, LipsyncEngine
from lipsync_svc.frames import FrameEncoder, PixelFormat
from lipsync_svc.mouth import MouthShape

ROOT = Path(__file__).resolve().parent.parent
RATE = 16000
FPS = 25
FRAME_SAMPLES = RATE // FPS
LAG_LIMIT_S = 0.25


def speech_like(seconds: float) -> np.ndarray:
    """Syllable-like voiced bursts at speech loudness (float32), so mouths really move."""
    t = np.arange(int(seconds * RATE)) / RATE
    voice = sum(np.sin(2 * np.pi * 150 * k * t) / k for k in range(1, 12))
    envelope = (np.sin(2 * np.pi * 4 * t) > -0.2).astype(np.float64)
    return (0.25 * voice * envelope / np.max(np.abs(voice))).astype(np.float32)


def _portrait() -> np.ndarray | None:
    """A real face: Grace Hopper's portrait from matplotlib's sample data, if installed."""
    try:
        import matplotlib
    except ImportError:
        return None
    import cv2

    image = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    return image if image is not None else None


def _sway(image: np.ndarray, index: int) -> np.ndarray:
    """``image`` moved as a listening head sways (a few pixels, under a degree)."""
    import cv2

    t = index / FPS
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 0.8 * np.sin(np.pi * t + 2), 1.0)
    matrix[:, 2] += (3 * np.sin(np.pi * t), 1.5 * np.sin(np.pi * t + 1))
    return cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)


def _write_video(path: Path, width: int, height: int, frames: int) -> str:
    """A test video of a face (the portrait swaying, else the drawn face); returns which."""
    import av
    import cv2

    portrait = _portrait()
    drawn = DrawnFace(min(width, height), 100)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        for index in range(frames):
            if portrait is not None:
                scale = height / portrait.shape[0]
                face = cv2.resize(_sway(portrait, index), None, fx=scale, fy=scale)
                image: np.ndarray = np.full((height, width, 3), 128, np.uint8)
                x0 = max(0, (width - face.shape[1]) // 2)
                image[:, x0 : x0 + face.shape[1]] = face[:, : width - x0]
            else:
                square = drawn.render(index, MouthShape(abs(float(np.sin(index / 5))) * 0.3))
                image = cv2.resize(square, (width, height))
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return "portrait" if portrait is not None else "drawn"


def _make_avatar(video: Path, size: int, engine_name: str) -> LoadedAvatar:
    spec = AvatarSpec(
        f"bench-{size}", "bench", engine_name, AvatarOptions(max_size=size, idle_loop_seconds=4.0)
    )
    prepared = prepare_avatar(
        video,
        spec,
        idle_fps=FPS,
        engine=engine_class(engine_name),
        report=lambda _: None,
        cancelled=threading.Event(),
    )
    for name, value in prepared.caches.items():
        prepared.avatar.preload_cache(name, value)
    return prepared.avatar


def _video_avatar(work: Path, size: int, engine_name: str) -> LoadedAvatar:
    video = work / f"face-{size}.mp4"
    _write_video(video, size, size, 110)
    return _make_avatar(video, size, engine_name)


def avatar_creation(work: Path) -> dict[str, Any]:
    """Seconds to make a procedural avatar (512 px, 4 s loop) from a 10 s 720p video."""
    video = work / "face-720p.mp4"
    face = _write_video(video, 1280, 720, 10 * FPS)
    started = time.perf_counter()
    avatar = _make_avatar(video, 512, "procedural")
    seconds = time.perf_counter() - started
    return {
        "name": "procedural-720p-10s",
        "face": face,
        "seconds": round(seconds, 2),
        "idle_frames": avatar.frame_count,
        "size": [avatar.info.width, avatar.info.height],
    }


def engine_fps(
    engine: LipsyncEngine, avatar: LoadedAvatar, frames: int, batch: int, sent: int = 0
) -> tuple[float, float]:
    """(frames per second of wall time, frames per second of this process's CPU time) of one
    stream rendering and I420-encoding ``frames`` frames, sent at the avatar's size or, with
    ``sent``, at ``sent`` x ``sent`` px (as a stream that asks for it: the engine may draw
    there directly, see ``EngineStream.draw_at``).

    CPU time counts only this process's own work, so the second figure is frames per second
    per core even on a machine other processes keep busy.
    """
    audio = speech_like(frames / FPS + 1)
    width, height = (sent, sent) if sent else (avatar.info.width, avatar.info.height)
    encoder = FrameEncoder(PixelFormat.I420, width, height)
    stream = engine.open_stream(avatar, RATE, FPS)
    stream.draw_at(width, height)
    requests = [
        FrameRequest(
            index=i,
            idle_index=avatar.idle_index(i, FPS),
            audio=audio[i * FRAME_SAMPLES : (i + 1) * FRAME_SAMPLES],
        )
        for i in range(frames)
    ]
    stream.render(requests[:batch])  # warm-up
    started, cpu_started = time.perf_counter(), time.process_time()
    for start in range(0, frames, batch):
        for picture in stream.render(requests[start : start + batch]):
            encoder.encode(picture)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return frames / wall, frames / max(cpu, 1e-9)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _one_stream(
    stub: lipsync_pb2_grpc.LipsyncServiceStub, seconds: float
) -> tuple[list[float], int]:
    pcm = (speech_like(seconds) * 32767).astype("<i2").tobytes()
    frames = len(pcm) // (2 * FRAME_SAMPLES)
    loop = asyncio.get_running_loop()
    sent: dict[int, float] = {}

    async def send() -> AsyncIterator[lipsync_pb2.StreamingAnimateRequest]:
        yield lipsync_pb2.StreamingAnimateRequest(config=lipsync_pb2.AnimateConfig())
        start = loop.time()
        for k in range(frames):
            # Frame k's audio exists once its 40 ms have been spoken.
            await asyncio.sleep(max(0.0, start + (k + 1) / FPS - loop.time()))
            sent[k] = loop.time()
            chunk = pcm[k * 2 * FRAME_SAMPLES : (k + 1) * 2 * FRAME_SAMPLES]
            yield lipsync_pb2.StreamingAnimateRequest(audio=lipsync_pb2.AnimateAudio(data=chunk))

    lags = []
    async for response in stub.StreamingAnimate(send()):
        lags.append(loop.time() - sent[response.frame_index])
    return lags, frames


async def _trial(address: str, streams: int, seconds: float) -> dict[str, Any]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = lipsync_pb2_grpc.LipsyncServiceStub(channel)
        results = await asyncio.gather(
            *(_one_stream(stub, seconds) for _ in range(streams)), return_exceptions=True
        )
    lags: list[float] = []
    complete = True
    for result in results:
        if isinstance(result, BaseException):
            complete = False
            continue
        stream_lags, expected = result
        complete &= len(stream_lags) == expected
        lags += stream_lags
    p95 = float(np.percentile(lags, 95)) if lags else float("inf")
    return {
        "streams": streams,
        "complete": complete,
        "p95_lag_ms": round(p95 * 1000, 1),
        "ok": complete and p95 <= LAG_LIMIT_S,
    }


async def _wait_serving(address: str, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(f"lipsync_svc at {address} did not start")


async def concurrent_streams(env: dict[str, str], seconds: float, limit: int) -> dict[str, Any]:
    """Most real-time 25 fps streams one service process sustains (doubling, then bisecting)."""
    port = _free_port()
    address = f"127.0.0.1:{port}"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lipsync_svc",
        cwd=ROOT,
        env={
            **os.environ,
            **env,
            "LIPSYNC_PORT": str(port),
            "LIPSYNC_LOG_LEVEL": "WARNING",
            "LIPSYNC_GRACE_PERIOD_S": "0",
            "LIPSYNC_MAX_STREAMS": str(4 * limit),
        },
    )
    trials = []
    try:
        await _wait_serving(address, 120)
        first = await _trial(address, 1, 1.0)  # warm-up; also the single-stream latency
        trials.append(first)
        good, bad = 0, None
        n = 1
        while n <= limit:
            trial = await _trial(address, n, seconds)
            trials.append(trial)
            if not trial["ok"]:
                bad = n
                break
            good, n = n, n * 2
        while bad is not None and bad - good > 1 and bad - good > max(1, good // 8):
            middle = (good + bad) // 2
            trial = await _trial(address, middle, seconds)
            trials.append(trial)
            if trial["ok"]:
                good = middle
            else:
                bad = middle
    finally:
        process.terminate()
        await process.wait()
    return {
        "sustained_streams": good,
        "single_stream_p95_lag_ms": first["p95_lag_ms"],
        "trials": trials,
    }


def _random_checkpoint(work: Path) -> Path:
    import torch

    from lipsync_svc.wav2lip_model import Wav2Lip

    path = work / "wav2lip-random.pth"
    torch.save(Wav2Lip().state_dict(), path)
    return path


def _print_table(result: dict[str, Any]) -> None:
    if "avatar_creation" in result:
        creation = result["avatar_creation"]
        print(f"\navatar from a 10 s 720p video ({creation['face']}): {creation['seconds']} s")
    print(f"\n{'engine / avatar / size':<32} {'frames/s':>9} {'ms/frame':>9} {'per CPU-s':>10}")
    for entry in result["engine_fps"]:
        print(
            f"{entry['name']:<32} {entry['fps']:>9.1f} {entry['ms_per_frame']:>9.2f} "
            f"{entry['fps_cpu']:>10.1f}"
        )
    print(f"\n{'real-time 25 fps streams':<32} {'sustained':>9} {'p95 lag, 1 stream (ms)':>23}")
    for entry in result["concurrency"]:
        print(
            f"{entry['name']:<32} {entry['sustained_streams']:>9} "
            f"{entry['single_stream_p95_lag_ms']:>23.1f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames, shorter trials")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--engines", default="procedural,wav2lip")
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--checkpoint", type=Path, help="wav2lip weights (default: random)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-streams", type=int, default=64)
    parser.add_argument("--no-streams", action="store_true", help="skip the concurrency trials")
    parser.add_argument(
        "--sent-size",
        type=int,
        default=128,
        help="also time the drawn avatar sent at this side in px (0: not)",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "bench-results" / "lipsync_svc.json")
    args = parser.parse_args(argv)

    frames = 50 if args.quick else 200
    trial_seconds = 2.0 if args.quick else 8.0
    max_streams = min(args.max_streams, 32) if args.quick else args.max_streams
    sizes = [int(s) for s in args.sizes.split(",")]
    engines = [e for e in args.engines.split(",") if e]
    result: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "device_requested": args.device,
        "frames_per_measure": frames,
        "engine_fps": [],
        "concurrency": [],
    }
    import cv2

    cv2.setNumThreads(1)  # frames per second per core
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "procedural" in engines:
            result["avatar_creation"] = avatar_creation(work)
            print(json.dumps(result["avatar_creation"]), flush=True)
        for engine_name in engines:
            env = {
                "LIPSYNC_ENGINE": engine_name,
                "LIPSYNC_DEVICE": args.device,
                "LIPSYNC_BATCH_SIZE": str(args.batch_size),
            }
            if engine_name == "wav2lip":
                try:
                    checkpoint = args.checkpoint or _random_checkpoint(work)
                except ImportError:
                    print("wav2lip: torch is not installed, skipped", file=sys.stderr)
                    continue
                env["LIPSYNC_WAV2LIP_CHECKPOINT"] = str(checkpoint)
                result["wav2lip_weights"] = "given" if args.checkpoint else "random"
            settings = LipsyncSettings(
                **{k.removeprefix("LIPSYNC_").lower(): v for k, v in env.items()}
            )
            engine = create_engine(settings)
            asyncio.run(engine.start())
            if engine_name == "wav2lip":
                result["wav2lip_device"] = getattr(engine, "device", "")
                result["wav2lip_autocast"] = str(getattr(engine, "autocast_dtype", None))
            for size in sizes:
                store = AvatarStore(
                    work / f"avatars-{engine_name}-{size}",
                    engine_name=engine_name,
                    default_size=size,
                )
                store.open()
                avatars = {"drawn": store.default}
                if engine_name == "procedural":
                    avatars["video"] = _video_avatar(work, size, engine_name)
                cases = [(kind, avatar, 0) for kind, avatar in avatars.items()]
                if args.sent_size and args.sent_size < size:
                    # The drawn avatar as the load test's students ask for it (128 px).
                    cases.append(("drawn", store.default, args.sent_size))
                for kind, avatar, sent in cases:
                    fps, fps_cpu = engine_fps(engine, avatar, frames, args.batch_size, sent)
                    entry = {
                        "name": f"{engine_name}-{kind}-{size}px"
                        + (f"-sent-{sent}px" if sent else ""),
                        "engine": engine_name,
                        "avatar": kind,
                        "size": size,
                        "sent_size": sent or size,
                        "fps": round(fps, 1),
                        "ms_per_frame": round(1000 / fps, 2),
                        # Frames per CPU-second of this process: per core, whatever the load.
                        "fps_cpu": round(fps_cpu, 1),
                    }
                    print(json.dumps(entry), flush=True)
                    result["engine_fps"].append(entry)
            asyncio.run(engine.close())
            if args.no_streams:
                continue
            for size in sizes:
                env_size = {
                    **env,
                    "LIPSYNC_DEFAULT_AVATAR_SIZE": str(size),
                    "LIPSYNC_DATA_DIR": str(work / f"svc-{engine_name}-{size}"),
                }
                streams = asyncio.run(concurrent_streams(env_size, trial_seconds, max_streams))
                entry = {
                    "name": f"{engine_name}-drawn-{size}px",
                    "engine": engine_name,
                    "size": size,
                    **streams,
                }
                print(json.dumps({k: v for k, v in entry.items() if k != "trials"}), flush=True)
                result["concurrency"].append(entry)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    _print_table(result)
    print(f"written: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
