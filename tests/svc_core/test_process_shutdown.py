"""A service process exits 0 within its grace period on SIGTERM, finishing in-flight calls."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GRACE_S = 3.0


def _start(gen_dir: Path) -> tuple[subprocess.Popen[str], str, list[str]]:
    env = {
        **os.environ,
        "ECHO_PORT": "0",
        "ECHO_GRACE_PERIOD_S": str(GRACE_S),
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("echo_process.py")), str(gen_dir)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    lines: list[str] = []
    assert proc.stderr is not None
    for line in proc.stderr:
        lines.append(line)
        if match := re.search(r"listening on (\S+:\d+)", line):
            # Keep draining stderr so the child never blocks on a full pipe.
            threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()  # type: ignore[arg-type]
            return proc, match.group(1), lines
    raise AssertionError("service did not start:\n" + "".join(lines))


def _wait_serving(address: str) -> None:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for _ in range(100):
            reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
            time.sleep(0.05)
    raise AssertionError("never SERVING")


def test_sigterm_exits_zero_within_grace_and_finishes_in_flight_calls(echo_modules, tmp_path):
    pb2, pb2_grpc = echo_modules
    gen_dir = Path(pb2.__file__).parent
    proc, address, lines = _start(gen_dir)
    try:
        _wait_serving(address)
        with grpc.insecure_channel(address) as channel:
            stub = pb2_grpc.EchoServiceStub(channel)
            call = stub.EchoStream(iter([pb2.EchoStreamRequest(text="in-flight", delay_s=1.0)]))
            time.sleep(0.2)  # the call is now in flight
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            replies = [r.text for r in call]
            code = proc.wait(timeout=GRACE_S + 10)
            elapsed = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
    assert replies == ["in-flight"]
    assert code == 0, "".join(lines)
    assert elapsed < GRACE_S + 5  # generous: process exit, not a performance check
    assert any("shutting down" in line for line in lines)
