"""Where a client's playback of a turn's speech stands: pacing what is sent, and what was heard."""

from __future__ import annotations

import asyncio
import time


class PlaybackTracker:
    """Follows one turn's speech from the pipeline to the client.

    The client plays media in real time from when it receives the first piece. Sending at most
    ``lead_ms`` ahead of that playback keeps the client's queue short, so barge-in silences it
    quickly and upstream work on speech nobody will hear stops with the turn. What the student
    has heard at an instant is the smaller of the audio sent and the time since the first
    piece was sent.

    Args:
        sample_rate_hz: Rate of the turn's output audio.
        lead_ms: How far ahead of playback to send; 0 sends as fast as media comes.
    """

    def __init__(self, sample_rate_hz: int, lead_ms: int) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.lead_s = lead_ms / 1000
        self.sent_samples = 0
        self.first_sent: float | None = None
        self.last_sent: float | None = None
        self._pace_start: float | None = None
        self._pending = 0
        self._drained = asyncio.Event()
        self._drained.set()

    async def pace(self, local_pts_us: int) -> None:
        """Waits until media at ``local_pts_us`` (turn timeline) is within the lead of playback."""
        now = time.monotonic()
        if self._pace_start is None:
            self._pace_start = now
        if self.lead_s <= 0:
            return
        due = self._pace_start + local_pts_us / 1e6 - self.lead_s
        if due > now:
            await asyncio.sleep(due - now)

    def queued(self) -> None:
        """A piece of media was put on the way to the client."""
        self._pending += 1
        self._drained.clear()

    def sent(self, samples: int) -> None:
        """A piece of media carrying ``samples`` of audio was handed to the client."""
        now = time.monotonic()
        if self.first_sent is None:
            self.first_sent = now
        self.last_sent = now
        self.sent_samples += samples
        self._settle()

    def dropped(self) -> None:
        """A queued piece was dropped (its turn was interrupted)."""
        self._settle()

    async def wait_drained(self) -> None:
        """Returns once every queued piece has been sent or dropped."""
        await self._drained.wait()

    @property
    def sent_ms(self) -> int:
        """Audio handed to the client so far, in ms."""
        return self.sent_samples * 1000 // self.sample_rate_hz

    def heard_ms(self, at: float | None = None) -> int:
        """How much of the turn's speech the client has played by ``at`` (time.monotonic())."""
        if self.first_sent is None:
            return 0
        at = time.monotonic() if at is None else at
        return min(self.sent_ms, int((at - self.first_sent) * 1000))

    def _settle(self) -> None:
        self._pending = max(self._pending - 1, 0)
        if self._pending == 0:
            self._drained.set()
