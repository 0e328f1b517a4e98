"""Sessions, credentials and engine tokens on a real gateway whose upstreams are all down."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from vtutor.gateway.v1 import admin_pb2, gateway_pb2, gateway_pb2_grpc

from gateway.auth import bearer_metadata
from tests.gateway.conftest import gateway_settings, start_gateway
from tests.gateway.gateway_client import (
    SERVICE_AUTH,
    ConverseStream,
    converse_config,
    create_session,
    finished_turn,
    tutor,
)

pytestmark = pytest.mark.integration

UNAVAILABLE = grpc.StatusCode.UNAVAILABLE.value[0]


def _config_request(session_id: str) -> gateway_pb2.ConverseRequest:
    return gateway_pb2.ConverseRequest(config=converse_config(session_id))


async def test_session_lifecycle_with_the_service_credential(bare_gateway):
    async with grpc.aio.insecure_channel(bare_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        first = await create_session(stub, student="s1", video=True)
        second = await create_session(stub, student="s2")
        await create_session(stub, tenant="school-b", student="s3")

        assert first.engine_url == bare_gateway.address
        assert first.session.engine_url == bare_gateway.address
        # At least 128 bits of randomness: token_urlsafe(32) gives 43 characters.
        assert len(first.engine_token) >= 43
        assert first.engine_token != second.engine_token
        assert first.expire_time.ToSeconds() > first.session.create_time.ToSeconds()
        assert first.session.state == gateway_pb2.SESSION_STATE_READY
        assert first.session.tutor.video_enabled

        got = await stub.GetSession(
            gateway_pb2.GetSessionRequest(session_id=first.session.session_id),
            metadata=SERVICE_AUTH,
        )
        assert got.session.student_id == "s1"
        assert got.session.tutor.system_prompt == tutor().system_prompt

        listed = await stub.ListSessions(
            gateway_pb2.ListSessionsRequest(tenant_id="school-a", page_size=1),
            metadata=SERVICE_AUTH,
        )
        # Newest first, one per page, and only this tenant's.
        assert [s.student_id for s in listed.sessions] == ["s2"]
        rest = await stub.ListSessions(
            gateway_pb2.ListSessionsRequest(
                tenant_id="school-a", page_size=1, page_token=listed.next_page_token
            ),
            metadata=SERVICE_AUTH,
        )
        assert [s.student_id for s in rest.sessions] == ["s1"]
        assert rest.next_page_token == ""

        ended = await stub.EndSession(
            gateway_pb2.EndSessionRequest(session_id=first.session.session_id),
            metadata=SERVICE_AUTH,
        )
        assert ended.session.state == gateway_pb2.SESSION_STATE_ENDED

        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await stub.GetSession(
                gateway_pb2.GetSessionRequest(session_id="nope"), metadata=SERVICE_AUTH
            )
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    "metadata",
    [(), bearer_metadata("wrong-key"), (("authorization", "Basic dGVzdA=="),)],
    ids=["missing", "wrong", "not-bearer"],
)
async def test_control_plane_refuses_without_the_service_credential(bare_gateway, metadata):
    async with grpc.aio.insecure_channel(bare_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        calls = [
            stub.CreateSession(
                gateway_pb2.CreateSessionRequest(tenant_id="t", student_id="s", tutor=tutor()),
                metadata=metadata,
            ),
            stub.ListSessions(gateway_pb2.ListSessionsRequest(tenant_id="t"), metadata=metadata),
            stub.ListVoices(admin_pb2.ListVoicesRequest(), metadata=metadata),
        ]
        for call in calls:
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await call
            assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
        # The engine token of a session is not a service credential either.
        created = await create_session(stub)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.ListSessions(
                gateway_pb2.ListSessionsRequest(tenant_id="school-a"),
                metadata=bearer_metadata(created.engine_token),
            )
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_session_limit_is_resource_exhausted():
    async for gateway in start_gateway(gateway_settings(max_sessions=2)):
        async with grpc.aio.insecure_channel(gateway.address) as channel:
            stub = gateway_pb2_grpc.GatewayServiceStub(channel)
            first = await create_session(stub)
            await create_session(stub)
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await create_session(stub)
            assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            # Ending one frees a place.
            await stub.EndSession(
                gateway_pb2.EndSessionRequest(session_id=first.session.session_id),
                metadata=SERVICE_AUTH,
            )
            await create_session(stub)


async def test_idle_sessions_expire():
    settings = gateway_settings(idle_timeout_s=0.3, sweep_interval_s=0.05)
    async for gateway in start_gateway(settings):
        async with grpc.aio.insecure_channel(gateway.address) as channel:
            stub = gateway_pb2_grpc.GatewayServiceStub(channel)
            created = await create_session(stub)
            await asyncio.sleep(0.6)
            got = await stub.GetSession(
                gateway_pb2.GetSessionRequest(session_id=created.session.session_id),
                metadata=SERVICE_AUTH,
            )
            assert got.session.state == gateway_pb2.SESSION_STATE_EXPIRED
            stream = ConverseStream.open(
                stub, created.engine_token, converse_config(created.session.session_id)
            )
            with pytest.raises(grpc.aio.AioRpcError) as error:
                await stream.read_to_end(10)
            assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def _converse_error(stub, token, first) -> grpc.aio.AioRpcError:
    stream = ConverseStream(stub, token, first)
    stream.close()
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await stream.read_to_end(10)
    return error.value


async def test_converse_refuses_bad_credentials_and_bad_first_messages(bare_gateway):
    async with grpc.aio.insecure_channel(bare_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        mine = await create_session(stub)
        other = await create_session(stub, student="other")
        config = gateway_pb2.ConverseRequest(config=converse_config(mine.session.session_id))

        missing = await _converse_error(stub, None, config)
        assert missing.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "missing credential" in (missing.details() or "")

        bad = await _converse_error(stub, "x" * 43, config)
        assert bad.code() == grpc.StatusCode.UNAUTHENTICATED

        # A valid token is bound to its own session only.
        crossed = await _converse_error(stub, other.engine_token, config)
        assert crossed.code() == grpc.StatusCode.UNAUTHENTICATED

        # The service credential does not open a conversation.
        service = await _converse_error(stub, "test-service-key", config)
        assert service.code() == grpc.StatusCode.UNAUTHENTICATED

        audio_first = await _converse_error(
            stub, mine.engine_token, gateway_pb2.ConverseRequest(audio=b"\0\0")
        )
        assert audio_first.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "config" in (audio_first.details() or "")

        empty = await _converse_error(stub, mine.engine_token, None)
        assert empty.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_expired_token_is_refused(bare_gateway):
    async with grpc.aio.insecure_channel(bare_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        created = await create_session(stub, ttl_seconds=1)
        await asyncio.sleep(1.2)
        error = await _converse_error(
            stub,
            created.engine_token,
            gateway_pb2.ConverseRequest(config=converse_config(created.session.session_id)),
        )
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "expired" in (error.details() or "")


async def test_ending_a_session_closes_its_stream_and_its_token(bare_gateway):
    async with grpc.aio.insecure_channel(bare_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        created = await create_session(stub)
        session_id = created.session.session_id
        stream = ConverseStream.open(stub, created.engine_token, converse_config(session_id))
        ready = await stream.read(10)
        assert ready is not None and ready.HasField("ready")
        assert ready.ready.session.state == gateway_pb2.SESSION_STATE_CONNECTED

        # One Converse at a time per session.
        second = await _converse_error(
            stub,
            created.engine_token,
            gateway_pb2.ConverseRequest(config=converse_config(session_id)),
        )
        assert second.code() == grpc.StatusCode.FAILED_PRECONDITION

        await stub.EndSession(
            gateway_pb2.EndSessionRequest(session_id=session_id), metadata=SERVICE_AUTH
        )
        rest = await stream.read_to_end(10)
        assert rest[-1].HasField("error")
        assert "ended" in rest[-1].error.message

        again = await _converse_error(
            stub,
            created.engine_token,
            gateway_pb2.ConverseRequest(config=converse_config(session_id)),
        )
        assert again.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "ended" in (again.details() or "")


async def test_upstream_down_fails_the_turn_but_not_the_session(bare_gateway):
    async with grpc.aio.insecure_channel(bare_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        created = await create_session(stub)
        session_id = created.session.session_id
        stream = ConverseStream.open(
            stub, created.engine_token, converse_config(session_id, modalities=(1,))
        )
        for _ in range(2):
            stream.send_text("What is photosynthesis?")
            seen = await stream.read_until(finished_turn, 30)
            errors = [r.error for r in seen if r.HasField("error")]
            assert [(e.stage, e.code) for e in errors] == [
                ("llm", grpc.StatusCode.UNAVAILABLE.value[0])
            ]
            assert seen[-1].turn_event.type == gateway_pb2.TURN_EVENT_TYPE_FAILED
            assert errors[0].turn_id == seen[-1].turn_event.turn_id
        stream.close()
        assert await stream.read_to_end(10) == []

        # Both failed turns are in the history a backend can watch.
        watch = stub.WatchSessionTurns(
            gateway_pb2.WatchSessionTurnsRequest(session_id=session_id), metadata=SERVICE_AUTH
        )
        first = await asyncio.wait_for(watch.read(), 5)
        second = await asyncio.wait_for(watch.read(), 5)
        assert [first.turn.turn_index, second.turn.turn_index] == [0, 1]
        assert first.turn.user_text == "What is photosynthesis?"
        watch.cancel()


@pytest.mark.parametrize(
    "bad",
    [
        gateway_pb2.ConverseRequest(audio=b"\0\0\0"),
        gateway_pb2.ConverseRequest(config=gateway_pb2.ConverseConfig()),
        gateway_pb2.ConverseRequest(),
    ],
    ids=["odd-audio", "second-config", "empty"],
)
async def test_bad_messages_after_the_config_end_the_stream(bare_gateway, bad):
    async with grpc.aio.insecure_channel(bare_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        created = await create_session(stub)
        stream = ConverseStream.open(
            stub, created.engine_token, converse_config(created.session.session_id)
        )
        ready = await stream.read(10)
        assert ready is not None and ready.HasField("ready")
        stream.send(bad)
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stream.read_to_end(10)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        # The session itself survives a broken stream.
        got = await stub.GetSession(
            gateway_pb2.GetSessionRequest(session_id=created.session.session_id),
            metadata=SERVICE_AUTH,
        )
        assert got.session.state == gateway_pb2.SESSION_STATE_READY
