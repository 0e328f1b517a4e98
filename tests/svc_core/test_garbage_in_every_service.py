"""Garbage on the wire, sent to every method of every real service process (issue 21, item 4):
INVALID_ARGUMENT, and at most one warning per process, never a traceback. Before, unary
requests got UNKNOWN (llm_svc's Generate) or INTERNAL, each with an ERROR traceback."""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import Any

import grpc
import pytest
from vtutor.asr.v1 import asr_pb2
from vtutor.gateway.v1 import gateway_pb2
from vtutor.lipsync.v1 import lipsync_pb2
from vtutor.llm.v1 import llm_pb2
from vtutor.tts.v1 import tts_pb2

from tests.support.real_stack import SERVICE_AUTH, RealStack
from tests.support.service_process import ServiceProcess

pytestmark = pytest.mark.integration

# Bytes that are no protobuf message: a field with wire type 7, a truncated length.
GARBAGE = (b"\xff\xff\xff\xff", b"\x0a\xff")


def _methods(pb2: ModuleType) -> list[tuple[str, bool, bool]]:
    """(full path, request streaming, response streaming) of every method of the module."""
    return [
        (f"/{service.full_name}/{method.name}", method.client_streaming, method.server_streaming)
        for service in pb2.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    ]


async def _call(channel: Any, path: str, streams_in: bool, streams_out: bool, data: bytes) -> str:
    # No serializers: the bytes go out as they are. Service auth, so the gateway gets as far
    # as reading the request.
    try:
        if streams_in:
            call = (channel.stream_stream if streams_out else channel.stream_unary)(path)(
                iter([data]), metadata=SERVICE_AUTH
            )
        else:
            call = (channel.unary_stream if streams_out else channel.unary_unary)(path)(
                data, metadata=SERVICE_AUTH
            )
        if streams_out:
            async for _ in call:
                pass
        else:
            await call
    except grpc.aio.AioRpcError as error:
        return error.code().name
    return "OK"


async def test_every_method_of_every_service_answers_garbage_with_invalid_argument(
    real_stack: RealStack,
) -> None:
    targets: list[tuple[ServiceProcess, ModuleType]] = [
        (real_stack.asr, asr_pb2),
        (real_stack.llm, llm_pb2),
        (real_stack.tts, tts_pb2),
        (real_stack.lipsync, lipsync_pb2),
        (real_stack.gateway, gateway_pb2),
    ]
    logs_before = {process.package: len(process.log_text()) for process, _ in targets}
    answers: dict[str, str] = {}
    for process, pb2 in targets:
        async with grpc.aio.insecure_channel(process.address) as channel:
            for path, streams_in, streams_out in _methods(pb2):
                for data in GARBAGE:
                    code = await _call(channel, path, streams_in, streams_out, data)
                    answers[f"{path} {data!r}"] = code
    assert answers and {code for code in answers.values()} == {"INVALID_ARGUMENT"}, {
        call: code for call, code in answers.items() if code != "INVALID_ARGUMENT"
    }
    await asyncio.sleep(0.2)  # the last lines reach the log files
    warned = 0
    for process, _ in targets:
        new_lines = process.log_text()[logs_before[process.package] :].splitlines()
        warnings = [line for line in new_lines if "undecodable request" in line]
        # One a minute per process (an earlier test's garbage may have used this minute's).
        assert len(warnings) <= 1, warnings
        warned += len(warnings)
        assert not [line for line in new_lines if " ERROR " in line or "Traceback" in line]
    assert warned >= 1
