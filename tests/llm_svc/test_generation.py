"""run_generation: the engine runs bounded, is timed, and stops the moment the call ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Sequence

import pytest

from llm_svc.engines.base import (
    ChatMessage,
    FinishReason,
    GenerationEvent,
    GenerationRequest,
    GenerationResult,
    LlmEngine,
    ModelInfo,
    TextDelta,
)
from llm_svc.generation import TimedResult, run_generation
from svc_core.errors import NotFound, ServiceError

pytestmark = pytest.mark.unit

REQUEST = GenerationRequest(messages=(ChatMessage("user", "hi"),))


class ScriptedEngine(LlmEngine):
    """Yields ``count`` deltas (``delay_s`` apart), then a result, an error or nothing."""

    name = "scripted"

    def __init__(self, count: int, *, delay_s: float = 0.0, ending: str = "result") -> None:
        self.count = count
        self.delay_s = delay_s
        self.ending = ending
        self.produced = 0
        self.stopped = asyncio.Event()

    @property
    def default_model(self) -> str:
        return "scripted"

    async def list_models(self) -> Sequence[ModelInfo]:
        return []

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]:
        try:
            for index in range(self.count):
                await asyncio.sleep(self.delay_s)
                self.produced += 1
                yield TextDelta(f"t{index}")
            if self.ending == "error":
                raise NotFound("no such model")
            if self.ending == "result":
                yield GenerationResult(FinishReason.STOP, model="scripted")
        finally:
            self.stopped.set()


class CallEnd:
    """Stands in for context.add_done_callback: ``end()`` runs what was registered."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[], object]] = []

    def register(self, callback: Callable[[], object]) -> None:
        self.callbacks.append(callback)

    def end(self) -> None:
        for callback in self.callbacks:
            callback()


async def test_streams_deltas_then_a_timed_result():
    engine = ScriptedEngine(3, delay_s=0.01)
    events = [
        e async for e in run_generation(engine, REQUEST, buffer=4, on_call_end=CallEnd().register)
    ]
    assert [e.text for e in events[:-1] if isinstance(e, TextDelta)] == ["t0", "t1", "t2"]
    result = events[-1]
    assert isinstance(result, TimedResult)
    assert result.result.finish_reason is FinishReason.STOP
    assert 5 <= result.time_to_first_token_ms <= result.total_ms
    assert result.total_ms >= 25


async def test_the_end_of_the_call_stops_the_engine_even_if_the_stream_is_never_closed():
    engine = ScriptedEngine(1000, delay_s=0.01)
    call = CallEnd()
    stream = run_generation(engine, REQUEST, buffer=4, on_call_end=call.register)
    first = await anext(stream)  # the handler is now suspended at a yield, as gRPC may leave it
    assert isinstance(first, TextDelta)
    call.end()
    await asyncio.wait_for(engine.stopped.wait(), 1)
    assert engine.produced < 20
    await stream.aclose()


async def test_a_slow_client_makes_the_engine_wait():
    engine = ScriptedEngine(100)
    stream = run_generation(engine, REQUEST, buffer=4, on_call_end=CallEnd().register)
    await anext(stream)
    await asyncio.sleep(0.05)
    # One handed out, four buffered, one waiting to be put: the engine is held back.
    assert engine.produced <= 6
    await stream.aclose()
    await asyncio.wait_for(engine.stopped.wait(), 1)


async def test_engine_errors_reach_the_caller_after_the_text_before_them():
    engine = ScriptedEngine(2, ending="error")
    seen = []
    with pytest.raises(NotFound, match="no such model"):
        async for event in run_generation(
            engine, REQUEST, buffer=4, on_call_end=CallEnd().register
        ):
            seen.append(event)
    assert len(seen) == 2


async def test_an_engine_ending_without_a_result_is_an_internal_error():
    engine = ScriptedEngine(1, ending="nothing")
    with pytest.raises(ServiceError, match="without a result") as info:
        async for _ in run_generation(engine, REQUEST, buffer=4, on_call_end=CallEnd().register):
            pass
    assert info.type is ServiceError


async def test_text_that_piles_up_while_the_client_is_busy_is_merged_in_order():
    engine = ScriptedEngine(5)
    stream = run_generation(engine, REQUEST, buffer=16, on_call_end=CallEnd().register)
    first = await anext(stream)
    await asyncio.sleep(0.05)  # a busy client: the engine has finished meanwhile
    rest = [event async for event in stream]
    assert first == TextDelta("t0")
    assert rest[0] == TextDelta("t1t2t3t4")
    assert isinstance(rest[1], TimedResult)
    assert len(rest) == 2
