"""How calls end on svc_core's server: garbage requests, early rejections, cancellations.

Issue 21 items 4 and 5, issue 18 item 6. Every rejection is repeated 200 times on one
in-process server: before the drain, 40-70% of them reached the client as "INTERNAL: Internal
error from Core" (a failed client write) instead of the status the server sent.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import grpc
import pytest

from svc_core import interceptor
from svc_core.errors import InvalidArgument, ResourceExhausted, Unauthenticated
from svc_core.logs import RateLimitedLog
from svc_core.server import ServiceBinding
from tests.support.grpc_servers import running_server

pytestmark = pytest.mark.integration

SERVICE = "/vtutor.testing.v1.EchoService"
REPEAT = 200
GARBAGE = [b"\xff\xff\xff\xff", b"\x0a\xff", b"\x08" + b"\xff" * 11]


def _servicer(pb2: ModuleType, pb2_grpc: ModuleType) -> Any:
    """EchoStream rejects the way services do, chosen by the first message's text."""

    class Rejecting(pb2_grpc.EchoServiceServicer):  # type: ignore[name-defined,misc]
        async def EchoRepeat(self, request: Any, context: Any) -> AsyncIterator[Any]:
            if request.times < 0:
                raise InvalidArgument("times must not be negative")
            for index in range(request.times):
                yield pb2.EchoStreamResponse(text=request.text, index=index)

        async def Echo(self, request: Any, context: Any) -> Any:
            return pb2.EchoResponse(text=request.text)

        async def EchoStream(self, requests: Any, context: Any) -> AsyncIterator[Any]:
            mode = dict(context.invocation_metadata()).get("mode", "")
            if mode == "before-reading":
                # Like an auth check on metadata: nothing read yet.
                raise Unauthenticated("no token")
            first = await anext(aiter(requests))
            if mode == "after-first":
                # Like a stream limit checked once the config is in.
                raise ResourceExhausted(f"too many streams ({first.text})")
            if mode == "reader-cancelled":
                # Like a pipeline whose reader task is cancelled mid-read as the call fails.
                reader = asyncio.create_task(anext(aiter(requests)))
                await asyncio.sleep(0)
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await reader
                raise InvalidArgument("bad audio")
            if mode == "while-echoing":
                async for request in requests:
                    yield pb2.EchoStreamResponse(text=request.text)
                    if request.text == "stop":
                        raise InvalidArgument("'stop' is not allowed")
            async for request in requests:
                yield pb2.EchoStreamResponse(text=request.text)

    return Rejecting()


@pytest.fixture
async def server(echo_modules: tuple[ModuleType, ModuleType]) -> AsyncIterator[Any]:
    pb2, pb2_grpc = echo_modules
    binding = ServiceBinding.of(_servicer(pb2, pb2_grpc), pb2_grpc, pb2)
    async with running_server([binding]) as running:
        yield running


@pytest.fixture
def fresh_warning_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new one-a-minute limit, so an earlier test's warning does not hold this one's back."""
    monkeypatch.setattr(interceptor, "_bad_requests", RateLimitedLog(interceptor.logger, 60.0))


async def _stream_status(channel: Any, pb2: ModuleType, texts: list[str], mode: str) -> str:
    """Sends ``texts`` on EchoStream and half-closes while reading; returns 'CODE details'."""
    call = channel.stream_stream(
        f"{SERVICE}/EchoStream",
        request_serializer=pb2.EchoStreamRequest.SerializeToString,
        response_deserializer=pb2.EchoStreamResponse.FromString,
    )(metadata=(("mode", mode),))

    async def write() -> None:
        # A write after the server ended the call fails; the status is read below.
        with contextlib.suppress(grpc.aio.AioRpcError, asyncio.InvalidStateError):
            for text in texts:
                await call.write(pb2.EchoStreamRequest(text=text))
            await call.done_writing()

    writer = asyncio.create_task(write())
    try:
        async for _ in call:
            pass
    except grpc.aio.AioRpcError as error:
        return f"{error.code().name} {error.details()}"
    finally:
        await writer
    return "OK"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("before-reading", "UNAUTHENTICATED no token"),
        ("after-first", "RESOURCE_EXHAUSTED too many streams (config)"),
        ("reader-cancelled", "INVALID_ARGUMENT bad audio"),
        ("while-echoing", "INVALID_ARGUMENT 'stop' is not allowed"),
    ],
)
async def test_each_stream_rejection_reaches_the_client_every_time(
    server: Any, echo_modules: tuple[ModuleType, ModuleType], mode: str, expected: str
) -> None:
    pb2, _ = echo_modules
    texts = ["config", "audio", "stop", "audio", "audio"]
    seen: collections.Counter[str] = collections.Counter()
    async with grpc.aio.insecure_channel(server.address) as channel:
        for _ in range(REPEAT):
            seen[await _stream_status(channel, pb2, texts, mode)] += 1
    assert seen == {expected: REPEAT}


async def test_a_rejected_client_that_waits_without_half_closing_gets_the_status(
    server: Any, echo_modules: tuple[ModuleType, ModuleType]
) -> None:
    pb2, pb2_grpc = echo_modules
    async with grpc.aio.insecure_channel(server.address) as channel:
        call = pb2_grpc.EchoServiceStub(channel).EchoStream(metadata=(("mode", "after-first"),))
        await call.write(pb2.EchoStreamRequest(text="config"))
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call.read()
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_unary_stream_rejection_reaches_the_client_every_time(
    server: Any, echo_modules: tuple[ModuleType, ModuleType]
) -> None:
    pb2, pb2_grpc = echo_modules
    seen: collections.Counter[str] = collections.Counter()
    async with grpc.aio.insecure_channel(server.address) as channel:
        stub = pb2_grpc.EchoServiceStub(channel)
        for _ in range(REPEAT):
            try:
                [r async for r in stub.EchoRepeat(pb2.EchoRepeatRequest(text="x", times=-1))]
                seen["OK"] += 1
            except grpc.aio.AioRpcError as error:
                seen[error.code().name] += 1
    assert seen == {"INVALID_ARGUMENT": REPEAT}


async def test_garbage_requests_are_invalid_argument_with_one_warning(
    server: Any, caplog: pytest.LogCaptureFixture, fresh_warning_limit: None
) -> None:
    caplog.set_level(logging.DEBUG)
    answers: collections.Counter[tuple[str, str]] = collections.Counter()
    async with grpc.aio.insecure_channel(server.address) as raw_channel:
        channel: Any = raw_channel  # untyped calls: the bytes go out as they are
        unary = channel.unary_unary(f"{SERVICE}/Echo")
        unary_stream = channel.unary_stream(f"{SERVICE}/EchoRepeat")
        for garbage in GARBAGE * 10:
            calls: list[tuple[str, Any]] = [
                ("Echo", unary(garbage)),
                ("EchoRepeat", unary_stream(garbage)),
            ]
            for name, call in calls:
                with pytest.raises(grpc.aio.AioRpcError) as info:
                    await call if name == "Echo" else [r async for r in call]
                answers[(name, info.value.code().name)] += 1
                assert "is not a valid vtutor.testing.v1." in str(info.value.details())
            stream = channel.stream_stream(f"{SERVICE}/EchoStream")()
            await stream.write(b"\x0a\x06config")  # a valid first message ...
            await stream.write(garbage)  # ... then garbage
            await stream.done_writing()
            with pytest.raises(grpc.aio.AioRpcError) as info:
                [r async for r in stream]
            answers[("EchoStream", info.value.code().name)] += 1
            assert "request message 2" in str(info.value.details())
    assert answers == {
        ("Echo", "INVALID_ARGUMENT"): 30,
        ("EchoRepeat", "INVALID_ARGUMENT"): 30,
        ("EchoStream", "INVALID_ARGUMENT"): 30,
    }
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "undecodable request" in warnings[0].getMessage()
    assert warnings[0].exc_info is None


async def test_a_cancelled_call_is_logged_at_debug_even_when_the_handler_turns_it_into_an_error(
    echo_modules: tuple[ModuleType, ModuleType], caplog: pytest.LogCaptureFixture
) -> None:
    pb2, pb2_grpc = echo_modules
    started = asyncio.Event()

    class Clumsy(pb2_grpc.EchoServiceServicer):  # type: ignore[name-defined,misc]
        async def EchoStream(self, requests: Any, context: Any) -> AsyncIterator[Any]:
            async for request in requests:
                yield pb2.EchoStreamResponse(text=request.text)
                started.set()
                try:
                    await asyncio.sleep(30)
                except asyncio.CancelledError:
                    # An engine whose worker fails as it is torn down.
                    raise RuntimeError("worker stopped") from None

        async def EchoRepeat(self, request: Any, context: Any) -> AsyncIterator[Any]:
            async with asyncio.TaskGroup() as group:
                group.create_task(asyncio.sleep(30))
                started.set()
            yield pb2.EchoStreamResponse(text="never")

    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    binding = ServiceBinding.of(Clumsy(), pb2_grpc, pb2)
    async with running_server([binding]) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = pb2_grpc.EchoServiceStub(channel)
            for method in ("EchoStream", "EchoRepeat"):
                started.clear()
                call = (
                    stub.EchoStream(iter([pb2.EchoStreamRequest(text="hi")]))
                    if method == "EchoStream"
                    else stub.EchoRepeat(pb2.EchoRepeatRequest(text="hi", times=1))
                )
                reading = asyncio.ensure_future(call.read())
                await started.wait()
                call.cancel()
                with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                    await reading
                await _until(lambda m=method: _cancel_records(caplog, m) >= 1)  # type: ignore[misc]
                errors += [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
                caplog.clear()
    assert errors == []


def _cancel_records(caplog: pytest.LogCaptureFixture, method: str) -> int:
    # Ours (a cancellation turned into another error) or gRPC's (a plain CancelledError).
    return sum(
        1
        for r in caplog.records
        if r.levelno == logging.DEBUG and "cancelled" in r.getMessage() and method in r.getMessage()
    )


async def _until(condition: Any, timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)
