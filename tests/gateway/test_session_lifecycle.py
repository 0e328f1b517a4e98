"""Sessions end when the student leaves (their stream closed, no reconnect within the grace)
and on the idle timeout; WatchSessionTurns, which web_backend's turn recorder follows, ends
with them, and GetSession and ListSessions say so (issue 21 item 9)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from vtutor.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from tests.gateway.conftest import RunningGateway, gateway_settings, start_gateway
from tests.gateway.gateway_client import (
    SERVICE_AUTH,
    ConverseStream,
    converse_config,
    create_session,
)

pytestmark = pytest.mark.integration

GRACE_S = 0.6
IDLE_S = 2.0


@pytest.fixture
async def gateway() -> AsyncIterator[RunningGateway]:
    settings = gateway_settings(
        disconnect_grace_s=GRACE_S, idle_timeout_s=IDLE_S, sweep_interval_s=0.1
    )
    async for running in start_gateway(settings):
        yield running


async def state(stub: gateway_pb2_grpc.GatewayServiceStub, session_id: str) -> int:
    got = await stub.GetSession(
        gateway_pb2.GetSessionRequest(session_id=session_id), metadata=SERVICE_AUTH
    )
    return int(got.session.state)


async def connect_and_leave(stub: gateway_pb2_grpc.GatewayServiceStub, session_id: str, token: str):
    stream = ConverseStream.open(stub, token, converse_config(session_id))
    ready = await stream.read(10)
    assert ready is not None and ready.HasField("ready")
    assert await state(stub, session_id) == gateway_pb2.SESSION_STATE_CONNECTED
    stream.close()  # the student closes the page: the stream half-closes
    await stream.read_to_end(10)


async def test_a_student_who_leaves_ends_the_session_after_the_grace(gateway):
    async with grpc.aio.insecure_channel(gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        created = await create_session(stub)
        session_id = created.session.session_id
        watch = stub.WatchSessionTurns(
            gateway_pb2.WatchSessionTurnsRequest(session_id=session_id), metadata=SERVICE_AUTH
        )
        await connect_and_leave(stub, session_id, created.engine_token)
        # Within the grace it is still live: a reload reconnects.
        assert await state(stub, session_id) == gateway_pb2.SESSION_STATE_READY
        # Then it ends, and the watch web_backend follows ends with it.
        assert await asyncio.wait_for(watch.read(), GRACE_S + 5) is grpc.aio.EOF  # type: ignore[attr-defined]
        assert await state(stub, session_id) == gateway_pb2.SESSION_STATE_ENDED
        listed = await stub.ListSessions(
            gateway_pb2.ListSessionsRequest(tenant_id="school-a"), metadata=SERVICE_AUTH
        )
        mine = next(s for s in listed.sessions if s.session_id == session_id)
        assert mine.state == gateway_pb2.SESSION_STATE_ENDED
        # Its token no longer opens a stream.
        stream = ConverseStream.open(stub, created.engine_token, converse_config(session_id))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stream.read(10)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_reconnect_within_the_grace_keeps_the_session(gateway):
    async with grpc.aio.insecure_channel(gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        created = await create_session(stub)
        session_id = created.session.session_id
        await connect_and_leave(stub, session_id, created.engine_token)
        stream = ConverseStream.open(stub, created.engine_token, converse_config(session_id))
        assert (await stream.read(10)).HasField("ready")  # type: ignore[union-attr]
        await asyncio.sleep(GRACE_S * 2)
        assert await state(stub, session_id) == gateway_pb2.SESSION_STATE_CONNECTED
        stream.close()
        await stream.read_to_end(10)


async def test_an_idle_session_expires_and_its_watch_ends(gateway):
    async with grpc.aio.insecure_channel(gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        created = await create_session(stub)  # never connected: the student never came
        session_id = created.session.session_id
        watch = stub.WatchSessionTurns(
            gateway_pb2.WatchSessionTurnsRequest(session_id=session_id), metadata=SERVICE_AUTH
        )
        assert await state(stub, session_id) == gateway_pb2.SESSION_STATE_READY
        assert await asyncio.wait_for(watch.read(), IDLE_S + 5) is grpc.aio.EOF  # type: ignore[attr-defined]
        assert await state(stub, session_id) == gateway_pb2.SESSION_STATE_EXPIRED
