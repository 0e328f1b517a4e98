"""Cancelled server streams end quietly (issue 18, item 6): a client that goes away while the
server is writing (a barge-in cancelling an upstream call) is a normal cancellation, logged at
DEBUG. Before, gRPC's own writer logged "ExecuteBatchError raised in core" with a traceback at
ERROR for 79 of these 300 calls, whenever the failed write beat the cancellation to Python."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from tests.support.service_process import ServiceProcess

pytestmark = pytest.mark.integration

CALLS = 300
AT_ONCE = 10


async def test_streams_cancelled_mid_write_log_no_error(echo_modules) -> None:
    pb2, pb2_grpc = echo_modules
    service = ServiceProcess(
        "echo",
        {"ECHO_LOG_LEVEL": "INFO"},
        prefix="ECHO_",
        argv=[str(Path(__file__).with_name("echo_process.py")), str(Path(pb2.__file__).parent)],
    )
    try:
        service.start()
        async with grpc.aio.insecure_channel(service.address) as channel:
            stub = pb2_grpc.EchoServiceStub(channel)

            async def read_a_little_then_leave(index: int) -> int:
                # Large responses and a slow reader: the server's next write is waiting on
                # flow control when the cancellation arrives.
                call = stub.EchoRepeat(pb2.EchoRepeatRequest(text="x" * 30_000, times=100_000))
                for _ in range(index % 5 + 1):
                    await call.read()
                await asyncio.sleep(0.05 * (index % 3))
                call.cancel()
                return index

            done = []
            for start in range(0, CALLS, AT_ONCE):
                done += await asyncio.gather(
                    *(read_a_little_then_leave(i) for i in range(start, start + AT_ONCE))
                )
        assert len(done) == CALLS
        # The service is still well: a new call completes.
        async with grpc.aio.insecure_channel(service.address) as channel:
            replies = pb2_grpc.EchoServiceStub(channel).EchoRepeat(
                pb2.EchoRepeatRequest(text="after", times=3)
            )
            assert [r.index async for r in replies] == [0, 1, 2]
        await asyncio.sleep(0.3)  # the log reaches its file
    finally:
        service.stop()
    log = service.log_text()
    assert " ERROR " not in log and "Traceback" not in log, log[-3000:]
