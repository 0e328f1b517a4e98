"""``python -m lipsync_svc`` as its own process: serves with health and reflection, refuses to
start without what its engine needs, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from vtutor.lipsync.v1 import lipsync_pb2, lipsync_pb2_grpc

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LIPSYNC_DATA_DIR": str(tmp_path / "data"),
        "LIPSYNC_DEFAULT_AVATAR_SIZE": "128",
        "LIPSYNC_GRACE_PERIOD_S": "1",
        **extra,
    }


def test_the_service_serves_health_reflection_and_avatars(tmp_path: Path) -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "lipsync_svc"],
        env=_env(tmp_path, LIPSYNC_PORT=str(port)),
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            deadline = time.monotonic() + 60
            while True:
                try:
                    reply = health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        break
                except grpc.RpcError:
                    pass
                assert time.monotonic() < deadline, "lipsync_svc did not start"
                time.sleep(0.2)
            reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
            replies = reflection.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")])
            )
            services = {s.name for reply in replies for s in reply.list_services_response.service}
            assert "vtutor.lipsync.v1.LipsyncService" in services
            avatars = lipsync_pb2_grpc.LipsyncServiceStub(channel).ListAvatars(
                lipsync_pb2.ListAvatarsRequest(), timeout=5
            )
            assert [a.avatar_id for a in avatars.avatars] == ["default"]
            assert avatars.avatars[0].width == 128
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_wav2lip_without_a_checkpoint_refuses_to_start(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lipsync_svc"],
        env=_env(tmp_path, LIPSYNC_PORT=str(_free_port()), LIPSYNC_ENGINE="wav2lip"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "LIPSYNC_WAV2LIP_CHECKPOINT" in result.stderr or "torch" in result.stderr
