"""CheckEngineToken on a real gateway: the same token check as Converse, without a stream."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from vtutor.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from gateway.auth import bearer_metadata
from tests.gateway.gateway_client import (
    SERVICE_AUTH,
    ConverseStream,
    converse_config,
    create_session,
)

pytestmark = pytest.mark.integration


async def _check(
    stub: gateway_pb2_grpc.GatewayServiceStub, session_id: str, token: str | None
) -> gateway_pb2.CheckEngineTokenResponse:
    return await stub.CheckEngineToken(
        gateway_pb2.CheckEngineTokenRequest(session_id=session_id),
        metadata=bearer_metadata(token) if token is not None else (),
    )


async def _refusal(
    stub: gateway_pb2_grpc.GatewayServiceStub, session_id: str, token: str | None
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await _check(stub, session_id, token)
    return error.value


async def test_a_valid_token_is_ok_with_its_expiry_even_while_connected(bare_gateway):
    async with grpc.aio.insecure_channel(bare_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        created = await create_session(stub, ttl_seconds=600)
        session_id = created.session.session_id
        checked = await _check(stub, session_id, created.engine_token)
        assert checked.expire_time == created.expire_time

        # A student reloading the page asks again while their old stream is still open.
        stream = ConverseStream.open(stub, created.engine_token, converse_config(session_id))
        ready = await stream.read(10)
        assert ready is not None and ready.HasField("ready")
        again = await _check(stub, session_id, created.engine_token)
        assert again.expire_time == created.expire_time
        stream.close()
        await stream.read_to_end(10)


async def test_wrong_missing_crossed_and_service_credentials_are_unauthenticated(bare_gateway):
    async with grpc.aio.insecure_channel(bare_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        mine = await create_session(stub)
        other = await create_session(stub, student="other")
        session_id = mine.session.session_id
        for token in (None, "x" * 43, other.engine_token, "test-service-key"):
            error = await _refusal(stub, session_id, token)
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED, token
        # The refusals did not touch the session.
        assert (await _check(stub, session_id, mine.engine_token)).expire_time.seconds > 0


async def test_expired_token_is_unauthenticated(bare_gateway):
    async with grpc.aio.insecure_channel(bare_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        created = await create_session(stub, ttl_seconds=1)
        await asyncio.sleep(1.5)
        error = await _refusal(stub, created.session.session_id, created.engine_token)
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "expired" in (error.details() or "")


async def test_ended_session_is_unauthenticated(bare_gateway):
    async with grpc.aio.insecure_channel(bare_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        created = await create_session(stub)
        session_id = created.session.session_id
        await stub.EndSession(
            gateway_pb2.EndSessionRequest(session_id=session_id), metadata=SERVICE_AUTH
        )
        error = await _refusal(stub, session_id, created.engine_token)
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "ended" in (error.details() or "")


async def test_unknown_session_and_wrong_token_get_one_answer(bare_gateway):
    # Issue 21 item 6: no NOT_FOUND vs UNAUTHENTICATED oracle for which session ids exist.
    async with grpc.aio.insecure_channel(bare_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        created = await create_session(stub)
        other = await create_session(stub, student="other")
        unknown = await _refusal(stub, "no-such-session", created.engine_token)
        wrong = await _refusal(stub, created.session.session_id, other.engine_token)
        assert unknown.code() == wrong.code() == grpc.StatusCode.UNAUTHENTICATED
        assert unknown.details() == wrong.details()
        # Without a credential the caller learns nothing about which sessions exist.
        anonymous = await _refusal(stub, "no-such-session", None)
        assert anonymous.code() == grpc.StatusCode.UNAUTHENTICATED
