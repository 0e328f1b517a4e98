"""The one "send to the client" stage of a stream: stream events first, then the turn's output.

Stream events (speech activity, transcripts, turn events, errors) go out in the order they are
sent. The playing turn's captions go out as soon as they come; its media is paced to at most
``lead_ms`` ahead of the client's playback (see gateway.playback). Only the attached turn's
channel is read, so detaching a flushed turn stops its media at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator

from gateway import metrics
from gateway.events import ConverseEvent, ErrorOut, FrameOut
from gateway.turn_output import TurnOutput

_END = object()


class ClientSender:
    """Merges a stream's events and its playing turn's output into what the client receives.

    Args:
        lead_ms: How far ahead of playback media is sent; 0 sends media as fast as it comes.
        capacity: Stream events it holds before ``send`` waits (a client that stops reading
            holds up its stream, not the gateway's memory).
    """

    def __init__(self, *, lead_ms: int, capacity: int) -> None:
        self.lead_s = lead_ms / 1000
        self.capacity = capacity
        self._events: deque[object] = deque()
        self._space = asyncio.Event()
        self._space.set()
        self._wakeup = asyncio.Event()
        self._turn: TurnOutput | None = None
        self._ended = False

    async def send(self, event: ConverseEvent) -> None:
        """Queues a stream event; waits while the queue is full. Dropped once the stream ended."""
        if isinstance(event, ErrorOut):
            metrics.record_error(event.stage, event.code)
        while len(self._events) >= self.capacity and not self._ended:
            self._space.clear()
            await self._space.wait()
        if self._ended:
            return
        self._events.append(event)
        self._wake()

    def attach(self, output: TurnOutput) -> None:
        """Starts reading ``output`` (the turn now playing) after the events queued so far."""
        self._turn = output
        output.attach(self._wake)
        self._wake()

    def detach(self, output: TurnOutput) -> None:
        """Stops reading ``output`` (its turn ended or was cut short)."""
        if self._turn is output:
            self._turn = None

    def end(self, last: ConverseEvent | None = None) -> None:
        """Ends the stream after what is queued (after ``last`` alone when given: the stream
        closes because its session did, and queued media nobody will play is dropped)."""
        if self._ended:
            return
        if last is not None:
            self._events.clear()
            self._turn = None
            self._events.append(last)
        self._events.append(_END)
        self._ended = True
        self._space.set()
        self._wake()

    async def events(self) -> AsyncIterator[ConverseEvent]:
        """What to send to the client, in order, until ``end``."""
        while True:
            self._wakeup.clear()
            event, due = self._next()
            if event is _END:
                return
            if event is not None:
                yield event  # type: ignore[misc]
                continue
            if due is None:
                await self._wakeup.wait()
            else:
                # asyncio.timeout, not wait_for: see gateway.upstream.channels.ResponseStream.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(due - time.monotonic(), 0)):
                        await self._wakeup.wait()

    def _next(self) -> tuple[object | None, float | None]:
        """The next thing to send, or None and when media will next be due (None: nothing)."""
        if self._events:
            event = self._events.popleft()
            self._space.set()
            return event, None
        turn = self._turn
        if turn is None:
            return None, None
        text = turn.take_text()
        if text is not None:
            return text, None
        media = turn.next_media()
        if media is None:
            return None, None
        now = time.monotonic()
        due = turn.playback.due_at(media.pts_us, self.lead_s)
        if due is not None and due > now:
            return None, due
        taken = turn.take_media(now)
        if isinstance(taken, FrameOut):
            metrics.record_frame()
        return taken, None

    def _wake(self) -> None:
        self._wakeup.set()
