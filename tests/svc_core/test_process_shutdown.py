"""A service process exits 0 within its grace period on SIGTERM, finishing in-flight calls."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import grpc
import pytest

from tests.support.service_process import ServiceProcess

pytestmark = pytest.mark.integration

GRACE_S = 3.0


def test_sigterm_exits_zero_within_grace_and_finishes_in_flight_calls(echo_modules):
    pb2, pb2_grpc = echo_modules
    gen_dir = Path(pb2.__file__).parent
    service = ServiceProcess(
        "echo",
        {"ECHO_GRACE_PERIOD_S": str(GRACE_S)},
        prefix="ECHO_",
        argv=[str(Path(__file__).with_name("echo_process.py")), str(gen_dir)],
    )
    try:
        service.start()
        assert service.process is not None
        with grpc.insecure_channel(service.address) as channel:
            stub = pb2_grpc.EchoServiceStub(channel)
            call = stub.EchoStream(iter([pb2.EchoStreamRequest(text="in-flight", delay_s=1.0)]))
            time.sleep(0.2)  # the call is now in flight
            service.process.send_signal(signal.SIGTERM)
            replies = [r.text for r in call]
            # Within the grace period (a generous bound: a hang, not a performance check).
            code = service.process.wait(timeout=GRACE_S + 10)
    finally:
        service.kill()
    log = service.log_text()
    assert replies == ["in-flight"]
    assert code == 0, log
    assert "shutting down" in log
