"""A tiny EchoService, compiled from echo.proto at test time, for testing svc_core."""

from __future__ import annotations

import asyncio
import importlib
import sys
from importlib import resources
from pathlib import Path
from types import ModuleType

import pytest
from grpc_tools import protoc

from svc_core.errors import ServiceError

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def echo_modules(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModuleType, ModuleType]:
    """(echo_pb2, echo_pb2_grpc), generated into a temporary folder."""
    out = tmp_path_factory.mktemp("echo_gen")
    well_known = str(resources.files("grpc_tools") / "_proto")
    rc = protoc.main(
        [
            "protoc",
            f"-I{HERE}",
            f"-I{well_known}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            "echo.proto",
        ]
    )
    assert rc == 0
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("echo_pb2"), importlib.import_module("echo_pb2_grpc")
    finally:
        sys.path.remove(str(out))


def make_echo_servicer(pb2: ModuleType, pb2_grpc: ModuleType) -> object:
    """An EchoService servicer built on the generated base class."""

    class EchoServicer(pb2_grpc.EchoServiceServicer):  # type: ignore[name-defined,misc]
        async def Echo(self, request, context):
            if request.text.startswith("fail:"):
                import grpc

                raise ServiceError("asked to fail", code=grpc.StatusCode[request.text[5:]])
            if request.text == "crash":
                raise RuntimeError("secret internal detail")
            return pb2.EchoResponse(text=request.text)

        async def EchoRepeat(self, request, context):
            for index in range(request.times):
                yield pb2.EchoStreamResponse(text=request.text, index=index)

        async def EchoStream(self, request_iterator, context):
            index = 0
            async for request in request_iterator:
                if request.delay_s:
                    await asyncio.sleep(request.delay_s)
                yield pb2.EchoStreamResponse(text=request.text, index=index)
                index += 1

    return EchoServicer()
