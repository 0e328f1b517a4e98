"""``python -m tts_svc`` as its own process: health, a stream, shutdown and start-up errors."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from vtutor.tts.v1 import tts_pb2_grpc

from tests.tts_svc.conftest import speak

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tts_svc",
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def wait_serving(address: str, timeout_s: float = 30) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            try:
                reply = await health.Check(
                    health_pb2.HealthCheckRequest(service="vtutor.tts.v1.TtsService"), timeout=1
                )
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            assert asyncio.get_running_loop().time() < deadline, "tts_svc did not become SERVING"
            await asyncio.sleep(0.1)


async def test_serves_speech_and_stops_cleanly_on_sigterm() -> None:
    port = free_port()
    process = await start({"TTS_PORT": str(port), "TTS_GRACE_PERIOD_S": "1"})
    try:
        await wait_serving(f"127.0.0.1:{port}")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            spoken = await speak(tts_pb2_grpc.TtsServiceStub(channel), ["Hello from a process."])
        assert [m.text for m in spoken.marks] == ["Hello from a process."]
        assert len(spoken.pcm) > 16000  # over half a second of speech
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()
    # Piper is the default engine, espeak-ng its fallback: both loaded.
    assert b"piper voice en_US-joe-medium ready" in stderr
    assert b"libespeak-ng ready" in stderr


@pytest.mark.parametrize(
    ("engine", "message"),
    [
        ("piper", b"TTS_DEFAULT_VOICE='no-such-voice' is not an installed Piper voice"),
        ("espeak", b"TTS_DEFAULT_VOICE='no-such-voice' is not an espeak voice"),
    ],
)
async def test_bad_default_voice_fails_at_start_with_a_message(engine: str, message: bytes) -> None:
    process = await start(
        {"TTS_PORT": str(free_port()), "TTS_ENGINE": engine, "TTS_DEFAULT_VOICE": "no-such-voice"}
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert message in stderr
