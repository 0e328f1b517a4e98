"""A discarded or interrupted turn's stages end when it is cut, even when the cancellation
comes just as an upstream answers (issue 20: in 3 of 11 ten-student runs a discarded
speculation's LLM stage ran on, and its session heard nothing for STOP_WAIT_S, 2 s).

On Python 3.11, ``asyncio.wait_for`` returns the awaited result instead of raising when its
task is cancelled in the step the result comes (gh-86296); the stage then put the token into
its flushed output and waited there for a cancellation that had already been spent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest

from gateway.events import AssistantTextOut
from gateway.turn_output import TurnOutput
from gateway.upstream.channels import ResponseStream, UpstreamError

pytestmark = [pytest.mark.unit, pytest.mark.asyncio]


class _Call:
    """A streaming call whose first message comes when ``answer`` is called."""

    def __init__(self) -> None:
        self.first: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.cancelled = False

    def __aiter__(self) -> AsyncIterator[str]:
        return self._messages()

    async def _messages(self) -> AsyncIterator[str]:
        yield await self.first
        await asyncio.Event().wait()  # no more messages

    def cancel(self) -> None:
        self.cancelled = True


async def test_a_cancellation_that_comes_with_the_first_response_is_not_swallowed() -> None:
    call = _Call()
    stream = ResponseStream("llm", call, lambda message: message, first_timeout_s=5.0)
    received: list[str] = []

    async def read() -> None:
        async for item in stream:
            received.append(item)

    task = asyncio.create_task(read())
    await asyncio.sleep(0.01)  # waiting for the first response
    call.first.set_result("token")
    task.cancel()  # in the same step: the turn is discarded as the LLM answers
    done, _ = await asyncio.wait([task], timeout=1.0)
    assert done, "the stage went on after its cancellation"
    assert task.cancelled()
    assert received == []
    assert call.cancelled and stream.outcome == "cancelled"


async def test_the_first_response_timeout_still_fails_the_stage() -> None:
    call = _Call()
    stream = ResponseStream("llm", call, lambda message: message, first_timeout_s=0.05)
    with pytest.raises(UpstreamError) as raised:
        async for _ in stream:
            pass
    assert raised.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "no response within 0.05 s" in str(raised.value)
    assert call.cancelled


async def test_a_put_into_a_cut_turn_ends_the_stage() -> None:
    output = TurnOutput("t1", sample_rate_hz=16000, capacity=2)
    await output.put(AssistantTextOut("t1", "Plants"))
    output.flush()
    # No cancellation is pending (as when an await swallowed it): the put must not wait.
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(output.put(AssistantTextOut("t1", " grow")), 1.0)
    assert output.take_text() is None  # nothing of the cut turn goes out


async def test_a_put_waiting_for_room_ends_when_the_turn_is_cut() -> None:
    output = TurnOutput("t1", sample_rate_hz=16000, capacity=1)
    await output.put(AssistantTextOut("t1", "Plants"))
    waiting = asyncio.create_task(output.put(AssistantTextOut("t1", " grow")))
    await asyncio.sleep(0.01)
    assert not waiting.done()  # back-pressure: the channel is full
    output.flush()
    done, _ = await asyncio.wait([waiting], timeout=1.0)
    assert done and waiting.cancelled()
