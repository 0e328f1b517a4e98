"""Runs one engine generation for one Generate call: bounded, timed, and cancelled with the call.

Text deltas go to the client as they come; those that pile up while the client is busy are
merged into one delta, so a client that falls behind catches up.

The engine's stream runs in its own task feeding a bounded queue. The task is cancelled as
soon as the call ends for any reason (the client cancelled, the deadline passed, the response
finished), whether or not the handler's generator is ever closed: gRPC may cancel a handler
while it is suspended at a ``yield``, and an engine must not keep an HTTP stream to Ollama
open until garbage collection finds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

from llm_svc.engines.base import GenerationRequest, GenerationResult, LlmEngine, TextDelta
from svc_core.errors import ServiceError


@dataclass(frozen=True)
class TimedResult:
    """A generation's result with its timings, measured from the start of the call."""

    result: GenerationResult
    #: 0 when no text was produced.
    time_to_first_token_ms: int
    total_ms: int


@dataclass(frozen=True)
class _Failed:
    error: Exception


_END = object()


async def run_generation(
    engine: LlmEngine,
    request: GenerationRequest,
    *,
    buffer: int,
    on_call_end: Callable[[Callable[[], object]], None],
) -> AsyncGenerator[TextDelta | TimedResult, None]:
    """Streams ``engine.generate(request)``, ending with a ``TimedResult``.

    Args:
        engine: The engine to run.
        request: What to generate.
        buffer: Events held while the client is slower than the engine; then the engine waits.
        on_call_end: Registers a callback to run when the RPC ends (``context.add_done_callback``).

    Raises:
        ServiceError: What the engine raised, or INTERNAL if it ended without a result.
    """
    started = time.perf_counter()
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=buffer)

    async def produce() -> None:
        try:
            async with contextlib.aclosing(engine.generate(request)) as events:
                async for event in events:
                    await queue.put(event)
        except Exception as exc:  # handed to the consumer, which raises it in the call
            await queue.put(_Failed(exc))
            return
        await queue.put(_END)

    producer = asyncio.create_task(produce(), name=f"{engine.name}-generate")
    cancelled = False

    def stop_engine() -> None:
        # Once only: a second cancel() lands in the engine's cleanup and interrupts it there
        # (httpcore then leaves the HTTP connection to Ollama open, and Ollama generating).
        nonlocal cancelled
        if not cancelled:
            cancelled = True
            producer.cancel()

    on_call_end(stop_engine)
    first_token_at: float | None = None
    pending: list[object] = []  # an event read while merging text, handled next
    try:
        while True:
            item = pending.pop() if pending else await queue.get()
            if isinstance(item, TextDelta):
                if first_token_at is None:
                    first_token_at = time.perf_counter()
                # Text that piled up while the client was busy goes out as one message: a
                # client that keeps up gets every token on its own, one that falls behind
                # catches up instead of paying the per-message cost for each token.
                pieces = [item.text]
                while not queue.empty():
                    following = queue.get_nowait()
                    if not isinstance(following, TextDelta):
                        pending.append(following)
                        break
                    pieces.append(following.text)
                yield item if len(pieces) == 1 else TextDelta("".join(pieces))
            elif isinstance(item, GenerationResult):
                ended = time.perf_counter()
                yield TimedResult(
                    item,
                    time_to_first_token_ms=(
                        0 if first_token_at is None else round((first_token_at - started) * 1000)
                    ),
                    total_ms=round((ended - started) * 1000),
                )
                return
            elif isinstance(item, _Failed):
                raise item.error
            else:
                raise ServiceError(f"the {engine.name} engine ended without a result")
    finally:
        stop_engine()
