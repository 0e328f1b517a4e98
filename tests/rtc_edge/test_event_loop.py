"""The edge runs on uvloop (cheaper per RTP packet and timer), asyncio's loop on request."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from rtc_edge.__main__ import event_loop
from rtc_edge.config import EdgeSettings

pytestmark = pytest.mark.unit


def test_uvloop_by_default_and_asyncio_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    uvloop = pytest.importorskip("uvloop")
    monkeypatch.setenv("RTC_TURN_SECRET", "a-real-secret")
    assert EdgeSettings().event_loop == "uvloop"
    monkeypatch.setenv("RTC_EVENT_LOOP", "asyncio")
    assert EdgeSettings().event_loop == "asyncio"
    loops = [event_loop("uvloop"), event_loop("asyncio")]
    try:
        assert isinstance(loops[0], uvloop.Loop)
        assert not isinstance(loops[1], uvloop.Loop)
    finally:
        for loop in loops:
            loop.close()


def test_an_unknown_loop_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTC_TURN_SECRET", "a-real-secret")
    monkeypatch.setenv("RTC_EVENT_LOOP", "trio")
    with pytest.raises(ValueError, match="event_loop"):
        EdgeSettings()


def test_grpc_aio_works_on_the_uvloop_loop() -> None:
    """The edge's gateway calls are grpc.aio: a real server and client on the edge's loop."""
    pytest.importorskip("uvloop")

    async def round_trip() -> int:
        server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(HealthServicer(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                stub = health_pb2_grpc.HealthStub(channel)
                reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
                return int(reply.status)
        finally:
            await server.stop(None)

    loop = event_loop("uvloop")
    try:
        assert loop.run_until_complete(round_trip()) == health_pb2.HealthCheckResponse.SERVING
    finally:
        loop.close()
        asyncio.set_event_loop(None)
