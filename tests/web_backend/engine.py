"""Plays the edge's part in backend tests: a Converse stream opened with a session's engine
token (from the backend's "start live session" answer), typed turns over it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
from vtutor.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from tests.gateway.gateway_client import (
    ConverseStream,
    answer_text,
    converse_config,
    finished_turn,
)


class EngineStream:
    """One student's Converse stream; ``ask`` plays a typed turn and returns its answer."""

    def __init__(self, stream: ConverseStream) -> None:
        self.stream = stream

    async def ask(self, text: str) -> gateway_pb2.TurnEvent:
        """Types ``text`` and waits for the turn to finish; returns its last turn event."""
        self.stream.send_text(text)
        seen = await self.stream.read_until(finished_turn, timeout_s=60)
        event = seen[-1].turn_event
        assert event.type == gateway_pb2.TURN_EVENT_TYPE_COMPLETED, seen[-5:]
        return event

    def answer(self, turn_id: str) -> str:
        """The captions the stream carried for a turn."""
        return answer_text(self.stream.received, turn_id)


@asynccontextmanager
async def engine_stream(started: dict[str, Any]) -> AsyncIterator[EngineStream]:
    """A text-only Converse stream for a live session the backend started."""
    async with grpc.aio.insecure_channel(started["engine_url"]) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        config = converse_config(
            started["gateway_session_id"], modalities=(gateway_pb2.MODALITY_TEXT,)
        )
        stream = ConverseStream.open(stub, started["engine_token"], config)
        try:
            await stream.read_until(lambda r: r.HasField("ready"), timeout_s=30)
            yield EngineStream(stream)
        finally:
            stream.close()
            stream.call.cancel()
