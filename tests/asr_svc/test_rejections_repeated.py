"""Every ASR rejection, 200 times over with the asyncio client (issue 21, item 5).

A client still writing when the server ended the call used to read "INTERNAL: Internal error
from Core" instead of the status (about 5% under load, more in-process); svc_core's interceptor
now drains the client's writes first. tests/asr_svc/test_bad_input.py checks each message once
with the synchronous client; this checks the status is the same every time for the asyncio
client, which the gateway uses.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib

import grpc
import pytest
from vtutor.asr.v1 import asr_pb2_grpc

from tests.asr_svc.speech import config_request
from tests.asr_svc.test_bad_input import AUDIO, BAD_STREAMS, HINTS, _until

pytestmark = pytest.mark.integration

REPEAT = 200


async def _status(channel: grpc.aio.Channel, requests: list) -> str:
    """Writes ``requests`` and half-closes while reading, as the gateway does; the status."""
    call = asr_pb2_grpc.AsrServiceStub(channel).StreamingRecognize()

    async def write() -> None:
        # A write after the server ended the call fails; the status is read below.
        with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
            for request in requests:
                await call.write(request)
            await call.done_writing()

    writer = asyncio.create_task(write())
    try:
        async for _ in call:
            pass
    except grpc.aio.AioRpcError as error:
        return error.code().name
    finally:
        await writer
    return "OK"


async def test_each_bad_stream_is_refused_the_same_way_every_time(pocketsphinx_engine, serve_asr):
    seen: dict[str, collections.Counter[str]] = {}
    async with serve_asr(pocketsphinx_engine) as (server, _):
        async with grpc.aio.insecure_channel(server.address) as channel:
            for case, (requests, _code, _message) in BAD_STREAMS.items():
                counts: collections.Counter[str] = collections.Counter()
                for _ in range(REPEAT):
                    # Three times over: the client is still writing when it is refused.
                    counts[await _status(channel, requests * 3)] += 1
                seen[case] = counts
    assert seen == {case: {code.name: REPEAT} for case, (_, code, _) in BAD_STREAMS.items()}


async def test_too_many_streams_is_resource_exhausted_every_time(pocketsphinx_engine, serve_asr):
    async with serve_asr(pocketsphinx_engine, max_streams=1) as (server, recognizer):
        async with grpc.aio.insecure_channel(server.address) as channel:
            holding = asr_pb2_grpc.AsrServiceStub(channel).StreamingRecognize()
            await holding.write(config_request(hints=HINTS))
            await holding.write(AUDIO)
            await _until(lambda: recognizer.active_streams == 1)
            counts: collections.Counter[str] = collections.Counter()
            for _ in range(REPEAT):
                counts[await _status(channel, [config_request(), AUDIO, AUDIO])] += 1
            await holding.done_writing()
            assert [r async for r in holding] == []
    assert counts == {"RESOURCE_EXHAUSTED": REPEAT}
