"""svc_core.server: health, reflection, error mapping and graceful shutdown on a real server."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import descriptor_pool, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from svc_core.server import GrpcServer, ServiceBinding
from svc_core.settings import ServiceSettings
from tests.support.grpc_servers import running_server
from tests.svc_core.conftest import make_echo_servicer

pytestmark = pytest.mark.integration

SERVICE = "vtutor.testing.v1.EchoService"


def _binding(echo_modules):
    pb2, pb2_grpc = echo_modules
    return ServiceBinding.of(make_echo_servicer(pb2, pb2_grpc), pb2_grpc, pb2)


async def test_health_serving_after_start(echo_modules):
    async with running_server([_binding(echo_modules)], serving=False) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for name in ("", SERVICE):
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=name))
                assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
            await server.set_serving(True)
            for name in ("", SERVICE):
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=name))
                assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_health_goes_not_serving_during_shutdown_while_calls_finish(echo_modules):
    pb2, pb2_grpc = echo_modules
    settings = ServiceSettings(port=0, grace_period_s=5, drain_period_s=0.5)
    server = GrpcServer(settings, [_binding(echo_modules)])
    await server.start()
    await server.set_serving(True)
    async with grpc.aio.insecure_channel(server.address) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(service=SERVICE)
        )
        first = await watch.read()
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        # A call in flight when shutdown starts must still complete within the grace period.
        slow = pb2_grpc.EchoServiceStub(channel).EchoStream(
            iter([pb2.EchoStreamRequest(text="late", delay_s=0.8)])
        )
        await asyncio.sleep(0.1)
        stopping = asyncio.create_task(server.stop())
        update = await asyncio.wait_for(watch.read(), 2)
        assert update.status == health_pb2.HealthCheckResponse.NOT_SERVING
        replies = [r.text async for r in slow]
        assert replies == ["late"]
        await stopping


async def test_reflection_lets_a_client_without_stubs_call_unary_and_bidi(echo_modules):
    async with running_server([_binding(echo_modules)]) as server:
        # The reflection client is synchronous; run it off the event loop.
        result = await asyncio.to_thread(_call_via_reflection, server.address)
    services, unary_text, stream_texts = result
    assert SERVICE in services
    assert "grpc.health.v1.Health" in services
    assert unary_text == "hello"
    assert stream_texts == [("a", 0), ("b", 1), ("c", 2)]


def _call_via_reflection(address: str):
    with grpc.insecure_channel(address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = list(database.get_services())
        pool = descriptor_pool.DescriptorPool(database)
        service = pool.FindServiceByName(SERVICE)
        echo = service.methods_by_name["Echo"]
        request_cls = message_factory.GetMessageClass(echo.input_type)
        response_cls = message_factory.GetMessageClass(echo.output_type)
        call = channel.unary_unary(
            f"/{SERVICE}/Echo",
            request_serializer=request_cls.SerializeToString,
            response_deserializer=response_cls.FromString,
        )
        unary_text = call(request_cls(text="hello")).text

        stream = service.methods_by_name["EchoStream"]
        assert stream.client_streaming and stream.server_streaming
        stream_request = message_factory.GetMessageClass(stream.input_type)
        stream_response = message_factory.GetMessageClass(stream.output_type)
        bidi = channel.stream_stream(
            f"/{SERVICE}/EchoStream",
            request_serializer=stream_request.SerializeToString,
            response_deserializer=stream_response.FromString,
        )
        replies = bidi(iter(stream_request(text=t) for t in "abc"))
        stream_texts = [(r.text, r.index) for r in replies]
    return services, unary_text, stream_texts


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("fail:NOT_FOUND", grpc.StatusCode.NOT_FOUND),
        ("fail:INVALID_ARGUMENT", grpc.StatusCode.INVALID_ARGUMENT),
        ("fail:UNAVAILABLE", grpc.StatusCode.UNAVAILABLE),
    ],
)
async def test_service_errors_reach_the_client_as_their_status(echo_modules, text, code):
    pb2, pb2_grpc = echo_modules
    async with running_server([_binding(echo_modules)]) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await pb2_grpc.EchoServiceStub(channel).Echo(pb2.EchoRequest(text=text))
    assert info.value.code() == code
    assert info.value.details() == "asked to fail"


async def test_unexpected_exception_is_internal_without_leaking_details(echo_modules):
    pb2, pb2_grpc = echo_modules
    async with running_server([_binding(echo_modules)]) as server:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = pb2_grpc.EchoServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.Echo(pb2.EchoRequest(text="crash"))
            # The server survives and serves the next call.
            assert (await stub.Echo(pb2.EchoRequest(text="ok"))).text == "ok"
    assert info.value.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in info.value.details()


async def test_healthcheck_cli_function_reports_serving_state(echo_modules):
    from svc_core.healthcheck import is_serving

    async with running_server([_binding(echo_modules)], serving=False) as server:
        assert not await asyncio.to_thread(is_serving, server.address, service=SERVICE)
        await server.set_serving(True)
        assert await asyncio.to_thread(is_serving, server.address, service=SERVICE)
    assert not await asyncio.to_thread(is_serving, server.address, timeout_s=0.5)
