"""Chaos: the gateway process killed mid-conversation and started again (same data dir), or
replaced by another replica on a shared Redis; the client reconnects with its token and the
next answer uses the earlier history (issue 21 item 1)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest
from vtutor.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from gateway.auth import bearer_metadata
from rtc_edge.converse_events import AssistantText, ConverseEvent, TurnEvent
from rtc_edge.gateway_link import ConverseLink, StreamOptions
from svc_core.retry import Backoff, retry_unavailable
from tests.gateway.gateway_client import (
    SERVICE_AUTH,
    ConverseStream,
    converse_config,
    create_session,
    turn_event,
)
from tests.support.real_stack import API_KEY, closed_address
from tests.support.redis_server import RedisServer
from tests.support.service_process import ServiceProcess

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUESTION = "What is photosynthesis?"
FOLLOW_UP = "Can you tell me more about it?"
COMPLETED = turn_event(gateway_pb2.TURN_EVENT_TYPE_COMPLETED)
# Waits out a restart: about 12 s of tries.
RECONNECT = Backoff(attempts=10, initial_s=0.2, max_s=2.0)


def gateway_process(llm: ServiceProcess, **settings: str) -> ServiceProcess:
    down = closed_address()
    env = {
        "GATEWAY_API_KEY": API_KEY,
        "GATEWAY_LLM_ADDRESS": llm.address,
        "GATEWAY_ASR_ADDRESS": down,
        "GATEWAY_TTS_ADDRESS": down,
        "GATEWAY_LIPSYNC_ADDRESS": down,
        "GATEWAY_SWEEP_INTERVAL_S": "0.2",
    }
    env.update({f"GATEWAY_{name.upper()}": value for name, value in settings.items()})
    return ServiceProcess("gateway", env)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


async def open_text_stream(address: str, session_id: str, token: str) -> ConverseStream:
    """Opens Converse (text only) and reads its `ready`, trying again while UNAVAILABLE."""

    async def attempt() -> ConverseStream:
        channel = grpc.aio.insecure_channel(address)
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        config = converse_config(session_id, modalities=(gateway_pb2.MODALITY_TEXT,))
        stream = ConverseStream.open(stub, token, config)
        try:
            ready = await stream.read(10)
        except BaseException:
            stream.call.cancel()
            await channel.close(None)
            raise
        assert ready is not None and ready.HasField("ready")
        return stream

    return await retry_unavailable(attempt, RECONNECT)


async def ask(stream: ConverseStream, text: str) -> gateway_pb2.TurnEvent:
    stream.send_text(text)
    responses = await stream.read_until(COMPLETED, 30)
    return responses[-1].turn_event


def about_photosynthesis(answer: str) -> bool:
    words = answer.lower()
    return any(w in words for w in ("photosynthesis", "sunlight", "chlorophyll", "glucose"))


async def follow_up_without_history(address: str) -> str:
    """The follow-up in a session with no history: the control that shows history matters."""
    async with grpc.aio.insecure_channel(address) as channel:
        created = await create_session(gateway_pb2_grpc.GatewayServiceStub(channel))
    stream = await open_text_stream(address, created.session.session_id, created.engine_token)
    event = await ask(stream, FOLLOW_UP)
    stream.close()
    await stream.read_to_end(10)
    return event.record.assistant_text


async def test_a_killed_and_restarted_gateway_resumes_the_conversation(llm_service):
    gateway = gateway_process(llm_service, disconnect_grace_s="30")
    gateway.start()
    try:
        async with grpc.aio.insecure_channel(gateway.address) as channel:
            stub = gateway_pb2_grpc.GatewayServiceStub(channel)
            created = await create_session(stub)
        session_id, token = created.session.session_id, created.engine_token
        stream = await open_text_stream(gateway.address, session_id, token)
        first = await ask(stream, QUESTION)
        assert about_photosynthesis(first.record.assistant_text)

        gateway.kill()  # SIGKILL with the stream open: nothing is flushed on the way out
        with pytest.raises(grpc.aio.AioRpcError) as broken:
            await stream.read_to_end(10)
        assert broken.value.code() == grpc.StatusCode.UNAVAILABLE
        # While it is down, clients are told UNAVAILABLE (which they retry), not UNAUTHENTICATED.
        async with grpc.aio.insecure_channel(gateway.address) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as down:
                await gateway_pb2_grpc.GatewayServiceStub(channel).CheckEngineToken(
                    gateway_pb2.CheckEngineTokenRequest(session_id=session_id),
                    metadata=bearer_metadata(token),
                    timeout=5,
                )
        assert down.value.code() == grpc.StatusCode.UNAVAILABLE

        gateway.spawn()  # same port, same GATEWAY_DATA_DIR; the client retries meanwhile
        resumed = await open_text_stream(gateway.address, session_id, token)
        second = await ask(resumed, FOLLOW_UP)
        resumed.close()
        await resumed.read_to_end(10)
        assert second.record.turn_index == 1
        assert about_photosynthesis(second.record.assistant_text), second.record.assistant_text
        assert second.record.assistant_text != first.record.assistant_text
        # Without the history the same words get another answer: the history made the difference.
        control = await follow_up_without_history(gateway.address)
        assert not about_photosynthesis(control), control

        async with grpc.aio.insecure_channel(gateway.address) as channel:
            got = await gateway_pb2_grpc.GatewayServiceStub(channel).GetSession(
                gateway_pb2.GetSessionRequest(session_id=session_id), metadata=SERVICE_AUTH
            )
        assert got.session.turn_count == 2
    finally:
        gateway.stop()


async def test_another_replica_resumes_the_conversation_through_redis(llm_service, redis_server):
    shared = {"session_store": redis_server.url, "instance_ttl_s": "1"}
    first_gateway = gateway_process(llm_service, instance_id="gw-a", **shared)
    second_gateway = gateway_process(llm_service, instance_id="gw-b", **shared)
    first_gateway.spawn()
    second_gateway.spawn()
    try:
        first_gateway.wait_serving()
        second_gateway.wait_serving()
        async with grpc.aio.insecure_channel(first_gateway.address) as channel:
            created = await create_session(gateway_pb2_grpc.GatewayServiceStub(channel))
        session_id, token = created.session.session_id, created.engine_token
        stream = await open_text_stream(first_gateway.address, session_id, token)
        first = await ask(stream, QUESTION)
        assert about_photosynthesis(first.record.assistant_text)

        first_gateway.kill()
        with pytest.raises(grpc.aio.AioRpcError):
            await stream.read_to_end(10)
        # gw-b refuses with UNAVAILABLE until gw-a's heartbeat lapses, then takes over.
        resumed = await open_text_stream(second_gateway.address, session_id, token)
        second = await ask(resumed, FOLLOW_UP)
        resumed.close()
        await resumed.read_to_end(10)
        assert second.record.turn_index == 1
        assert about_photosynthesis(second.record.assistant_text), second.record.assistant_text
        async with grpc.aio.insecure_channel(second_gateway.address) as channel:
            stub = gateway_pb2_grpc.GatewayServiceStub(channel)
            watch = stub.WatchSessionTurns(
                gateway_pb2.WatchSessionTurnsRequest(session_id=session_id), metadata=SERVICE_AUTH
            )
            turns = [await asyncio.wait_for(watch.read(), 10) for _ in range(2)]
            watch.cancel()
        assert [t.turn.user_text for t in turns] == [QUESTION, FOLLOW_UP]
    finally:
        first_gateway.stop()
        second_gateway.stop()


async def _answer(events: AsyncIterator[ConverseEvent]) -> str:
    """The captions of the next turn, up to its completion."""
    text: list[str] = []
    async for event in events:
        if isinstance(event, AssistantText):
            text.append(event.delta)
        elif isinstance(event, TurnEvent) and event.kind in ("completed", "failed"):
            assert event.kind == "completed"
            return "".join(text)
    raise AssertionError("the stream ended before the turn completed")


async def test_the_edges_stream_resumes_by_itself_after_a_restart(llm_service, tts_service):
    # The edge asks for audio too: spoken answers need the TTS.
    gateway = gateway_process(llm_service, tts_address=tts_service.address)
    gateway.start()
    try:
        async with grpc.aio.insecure_channel(gateway.address) as channel:
            created = await create_session(gateway_pb2_grpc.GatewayServiceStub(channel))
            link = ConverseLink(
                channel,
                created.engine_token,
                StreamOptions(session_id=created.session.session_id, interim_transcripts=False),
            )
            await link.open(timeout_s=10)
            events = link.events()
            await link.send_text(QUESTION)
            assert about_photosynthesis(await asyncio.wait_for(_answer(events), 30))
            gateway.kill()
            restart = asyncio.get_running_loop().run_in_executor(None, gateway.start)
            # The student types on while the gateway is down; the link reopens the stream
            # with the session's token and sends it once the gateway is back.
            await link.send_text(FOLLOW_UP)
            answer = await asyncio.wait_for(_answer(events), 60)
            await restart
            assert link.resumptions == 1
            assert about_photosynthesis(answer), answer
            await link.close()
    finally:
        gateway.stop()
