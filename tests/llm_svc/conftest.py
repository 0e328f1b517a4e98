"""Fixtures for llm_svc: the service in-process on a loopback port, and a fake Ollama server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from vtutor.llm.v1 import llm_pb2, llm_pb2_grpc

from llm_svc.config import LlmSettings
from llm_svc.server import build_service
from tests.support.fake_ollama import FakeOllamaServer
from tests.support.grpc_servers import running_server


def llm_settings(data_dir: Path, **overrides: Any) -> LlmSettings:
    """Settings for a test service: a free port, no grace period, the given data folder.

    Everything a developer's LLM_* environment could change is set explicitly.
    """
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "grace_period_s": 0,
        "data_dir": data_dir,
        "engine": "retrieval",
        "retrieval_fallback_knowledge_base": "demo",
        "retrieval_max_passages": 2,
        "clarify_below_confidence": 0.5,
        "answer_words": 60,
        "retrieval_token_delay_ms": 0,
        "ollama_startup_timeout_s": 0,
        "ollama_read_timeout_s": 10,
        "ollama_model": "llama3.2:3b",
        "ollama_context_passages": 3,
        "ollama_keep_alive": "",
        "knowledge_min_score": 0.0,
        "knowledge_min_coverage": 0.6,
    }
    values.update(overrides)
    return LlmSettings(**values)


@asynccontextmanager
async def llm_service(settings: LlmSettings) -> AsyncIterator[llm_pb2_grpc.LlmServiceStub]:
    """The service started as ``python -m llm_svc`` would, and a stub connected to it."""
    bindings, startup, shutdown = build_service(settings)
    async with running_server(bindings, settings, serving=False) as server:
        await startup()
        await server.set_serving(True)
        try:
            async with grpc.aio.insecure_channel(server.address) as channel:
                yield llm_pb2_grpc.LlmServiceStub(channel)
        finally:
            await shutdown()


@pytest.fixture
async def fake_ollama() -> AsyncIterator[FakeOllamaServer]:
    """A fake Ollama server with the default model, a short reply and no delays."""
    async with FakeOllamaServer() as server:
        yield server


def user(text: str) -> llm_pb2.Message:
    """A message from the student."""
    return llm_pb2.Message(role=llm_pb2.ROLE_USER, content=text)


async def collect(
    call: grpc.aio.UnaryStreamCall,
) -> tuple[list[str], llm_pb2.GenerationDone]:
    """The deltas of a Generate call and its done event (asserting there is exactly one)."""
    deltas: list[str] = []
    done: list[llm_pb2.GenerationDone] = []
    # read() rather than iteration, so a test may read() the first messages itself.
    while (response := await call.read()) is not grpc.aio.EOF:
        assert isinstance(response, llm_pb2.GenerateResponse)
        assert not done, "nothing may follow the done event"
        if response.HasField("delta"):
            deltas.append(response.delta.text)
        else:
            done.append(response.done)
    assert len(done) == 1
    return deltas, done[0]
