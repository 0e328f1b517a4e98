"""One turn's output channel: bounded, read by the paced sender, flushed when the turn is cut.

A turn's pipeline puts its caption text and its media here; the stream's one ClientSender takes
them out (text at once, media paced to playback). Interrupting the turn flushes the channel:
whatever is queued is dropped at once and later puts are ignored, so nothing of the turn can
reach the client after its INTERRUPTED event.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from gateway.events import AssistantTextOut, MediaOut
from gateway.playback import Playback


class TurnOutput:
    """The bounded channel between one turn's pipeline and the client sender.

    Args:
        turn_id: The turn.
        sample_rate_hz: Rate of the turn's output audio.
        capacity: Messages it holds before ``put`` waits (back-pressure on the pipeline).
    """

    def __init__(self, turn_id: str, *, sample_rate_hz: int, capacity: int) -> None:
        self.turn_id = turn_id
        self.capacity = capacity
        self.playback = Playback(sample_rate_hz)
        self.sent_text: list[str] = []
        self._text: deque[AssistantTextOut] = deque()
        self._media: deque[MediaOut] = deque()
        self._space = asyncio.Event()
        self._space.set()
        self._drained = asyncio.Event()
        self._closed = False
        self._flushed = False
        self._wake: Callable[[], None] = _nothing

    # Producer side (the turn's pipeline) ------------------------------------------------------

    async def put(self, event: AssistantTextOut | MediaOut) -> None:
        """Queues an event for the client; waits while the channel is full.

        Raises:
            asyncio.CancelledError: The channel was flushed (the turn was cut): the stage must
                not race on. Its task is cancelled right after the flush, but it ends here
                without waiting for that cancellation, which an await that swallowed it would
                never deliver (asyncio.wait_for on Python 3.11: the turn hung ``STOP_WAIT_S``).
        """
        while len(self._text) + len(self._media) >= self.capacity and not self._flushed:
            self._space.clear()
            await self._space.wait()
        if self._flushed:
            raise asyncio.CancelledError
        if self._closed:
            return
        if isinstance(event, AssistantTextOut):
            self._text.append(event)
        else:
            self._media.append(event)
        self._wake()

    def close(self) -> None:
        """No more events: the channel drains once the sender has taken what is queued."""
        self._closed = True
        self._settle()
        self._wake()

    def flush(self) -> None:
        """Drops everything queued and ignores later events (the turn was cut short)."""
        self._flushed = True
        self._closed = True
        self._text.clear()
        self._media.clear()
        self._space.set()
        self._drained.set()

    async def wait_drained(self) -> None:
        """Returns once the channel is closed and the sender has taken every event."""
        await self._drained.wait()

    @property
    def flushed(self) -> bool:
        """True once the turn was cut short."""
        return self._flushed

    # Sender side ------------------------------------------------------------------------------

    def attach(self, wake: Callable[[], None]) -> None:
        """Called by the sender: ``wake`` is called whenever there is something new to take."""
        self._wake = wake

    def take_text(self) -> AssistantTextOut | None:
        """The caption text queued so far as one delta, if any (captions are not paced).

        Deltas that queued up behind the sender go as one message: a whole answer at once (the
        retrieval engine's) was ~80 messages before the turn's first frame, each a read and a
        data-channel message at the edge (issue 20: 0.2-0.6 s between the final transcript and
        the first frame at a busy edge, against 20-60 ms at the gateway).
        """
        if not self._text:
            return None
        event = self._text.popleft()
        if self._text:
            rest = "".join(queued.delta for queued in self._text)
            self._text.clear()
            event = AssistantTextOut(event.turn_id, event.delta + rest)
        self.sent_text.append(event.delta)
        self._settle()
        return event

    def next_media(self) -> MediaOut | None:
        """The next media message without taking it (the sender paces it first)."""
        return self._media[0] if self._media else None

    def take_media(self, now: float) -> MediaOut:
        """Takes the next media message, which is handed to the client at ``now``."""
        event = self._media.popleft()
        self.playback.sent(event.pts_us, event.samples, now)
        self._settle()
        return event

    def _settle(self) -> None:
        # Producers wake once the channel is half empty, not at each free slot: a full channel
        # then costs one switch per half channel instead of one per message.
        if len(self._text) + len(self._media) <= self.capacity // 2:
            self._space.set()
        if self._closed and not self._text and not self._media:
            self._drained.set()


def _nothing() -> None:
    return None
