"""Failed engine-token checks are rate-limited per session id and per peer, with one answer for
an unknown session and a wrong token (issue 21 item 6)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from vtutor.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from gateway.auth import TokenGuard, bearer_metadata
from rtc_edge.gateway_link import ClientIdentity, forwarding_metadata
from svc_core.errors import ResourceExhausted
from tests.gateway.conftest import API_KEY, RunningGateway, gateway_settings, start_gateway
from tests.gateway.gateway_client import ConverseStream, converse_config, create_session

pytestmark = pytest.mark.integration

PER_SESSION = 3
PER_PEER = 8


@pytest.fixture
async def guarded_gateway() -> AsyncIterator[RunningGateway]:
    settings = gateway_settings(
        token_failures_per_session_per_minute=PER_SESSION,
        token_failures_per_peer_per_minute=PER_PEER,
    )
    async for gateway in start_gateway(settings):
        yield gateway


async def _code(
    stub: gateway_pb2_grpc.GatewayServiceStub,
    session_id: str,
    token: str,
    forwarded: tuple[tuple[str, str], ...] = (),
):
    try:
        await stub.CheckEngineToken(
            gateway_pb2.CheckEngineTokenRequest(session_id=session_id),
            metadata=(*bearer_metadata(token), *forwarded),
        )
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details()
    return grpc.StatusCode.OK, ""


async def test_guessing_one_sessions_token_is_cut_off(guarded_gateway):
    async with grpc.aio.insecure_channel(guarded_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        target = await create_session(stub)
        other = await create_session(stub, student="other")
        session_id = target.session.session_id
        answers = [await _code(stub, session_id, f"guess-{i}" * 6) for i in range(PER_SESSION)]
        assert {code for code, _ in answers} == {grpc.StatusCode.UNAUTHENTICATED}
        # Past the limit nothing is checked for this session id, the right token included.
        code, details = await _code(stub, session_id, target.engine_token)
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "too many" in details
        # Converse is guarded the same way.
        stream = ConverseStream.open(stub, target.engine_token, converse_config(session_id))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stream.read(10)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # Other sessions are not affected.
        ok, _ = await _code(stub, other.session.session_id, other.engine_token)
        assert ok == grpc.StatusCode.OK


async def test_probing_session_ids_from_one_peer_is_cut_off(guarded_gateway):
    async with grpc.aio.insecure_channel(guarded_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        mine = await create_session(stub)
        answers = [await _code(stub, f"probe-{i}", mine.engine_token) for i in range(PER_PEER - 1)]
        wrong = await _code(stub, mine.session.session_id, "x" * 43)
        # Every unknown id got the answer a wrong token gets: nothing tells them apart.
        assert set(answers) == {wrong}
        assert wrong[0] == grpc.StatusCode.UNAUTHENTICATED
        # Past the peer's limit even a valid token is not checked from this peer.
        code, _ = await _code(stub, mine.session.session_id, mine.engine_token)
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_only_failures_count_and_limits_are_per_key():
    guard = TokenGuard(per_session=2, per_peer=100)
    for _ in range(50):
        guard.require_allowed("s1", "ipv4:10.0.0.1")  # checks that passed never count
    guard.failed("s1", "ipv4:10.0.0.1")
    guard.failed("s1", "ipv4:10.0.0.2")
    with pytest.raises(ResourceExhausted):
        guard.require_allowed("s1", "ipv4:10.0.0.3")
    guard.require_allowed("s2", "ipv4:10.0.0.1")


def _for_browser(address: str, credential: str = API_KEY) -> tuple[tuple[str, str], ...]:
    return forwarding_metadata(ClientIdentity(address, credential))


async def test_through_the_edge_each_browser_has_its_own_limit(guarded_gateway):
    # Every student's checks reach the gateway from the edge: a browser that guesses must not
    # lock the others out, so a trusted edge names the browser (proven by the credential).
    async with grpc.aio.insecure_channel(guarded_gateway.address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        mine = await create_session(stub)
        guesser = _for_browser("203.0.113.7")
        for i in range(PER_PEER):
            await _code(stub, f"probe-{i}", "x" * 43, guesser)
        code, _ = await _code(stub, "probe-x", "x" * 43, guesser)
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        honest = _for_browser("198.51.100.9")
        ok, _ = await _code(stub, mine.session.session_id, mine.engine_token, honest)
        assert ok == grpc.StatusCode.OK
        # A caller without the credential cannot pick its own address: its failures count
        # against where it really connects from.
        for i in range(PER_PEER):
            await _code(stub, f"forged-{i}", "x" * 43, _for_browser(f"192.0.2.{i}", "wrong"))
        code, _ = await _code(stub, mine.session.session_id, mine.engine_token)
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
