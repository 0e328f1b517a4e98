"""``python -m asr_svc`` as a process: serving with health and reflection, or refusing to start."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASR_")}
    env.update(values, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    return env


def test_serves_with_health_and_reflection_then_stops_on_sigterm():
    process = subprocess.Popen(
        [sys.executable, "-m", "asr_svc"],
        cwd=ROOT,
        env=_env(ASR_PORT="0", ASR_GRACE_PERIOD_S="0"),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        address = None
        deadline = time.monotonic() + 60
        while address is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            match = re.search(r"listening on (\S+:\d+)", line)
            address = match.group(1) if match else None
        assert address, "the service did not report its address"
        with grpc.insecure_channel(address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            status = None
            while time.monotonic() < deadline:
                status = health.Check(
                    health_pb2.HealthCheckRequest(service="vtutor.asr.v1.AsrService")
                ).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    break
                time.sleep(0.1)
            assert status == health_pb2.HealthCheckResponse.SERVING
            services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
            assert "vtutor.asr.v1.AsrService" in services
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"ASR_ENGINE": "faster_whisper", "ASR_MODEL": "tiny"},
            "Download the model into a directory",
        ),
        ({"ASR_ENGINE": "faster_whisper"}, "set ASR_MODEL"),
        ({"ASR_ENGINE": "kaldi"}, "ASR_* settings"),
    ],
)
def test_refuses_to_start_saying_what_to_configure(env, message):
    result = subprocess.run(
        [sys.executable, "-m", "asr_svc"],
        cwd=ROOT,
        env=_env(ASR_PORT="0", **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert message in result.stderr
