"""Where a client's playback of one turn's speech stands: when to send media, what was heard.

This is the state of the paced sender (gateway.client_sender), kept per turn on the turn's
output channel; nothing else writes it.
"""

from __future__ import annotations


class Playback:
    """Follows what of one turn's speech has been handed to the client.

    The client plays media in real time from when it receives the first piece. Sending at most
    ``lead_s`` ahead of that playback keeps the client's queue short, so barge-in silences it
    quickly and upstream work on speech nobody will hear stops with the turn. What the student
    has heard at an instant is the smaller of the audio sent and the time since the first
    piece was sent.

    Args:
        sample_rate_hz: Rate of the turn's output audio.
    """

    def __init__(self, sample_rate_hz: int) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.sent_samples = 0
        self.first_sent: float | None = None
        self.last_sent: float | None = None
        self._first_pts_us = 0

    def due_at(self, pts_us: int, lead_s: float) -> float | None:
        """When (``time.monotonic()``) media at ``pts_us`` may be sent; None means now."""
        if self.first_sent is None or lead_s <= 0:
            return None
        return self.first_sent + (pts_us - self._first_pts_us) / 1e6 - lead_s

    def sent(self, pts_us: int, samples: int, now: float) -> None:
        """A piece of media at ``pts_us`` carrying ``samples`` of audio went to the client."""
        if self.first_sent is None:
            self.first_sent = now
            self._first_pts_us = pts_us
        self.last_sent = now
        self.sent_samples += samples

    @property
    def sent_ms(self) -> int:
        """Audio handed to the client so far, in ms."""
        return self.sent_samples * 1000 // self.sample_rate_hz

    def heard_ms(self, at: float) -> int:
        """How much of the turn's speech the client has played by ``at`` (time.monotonic())."""
        if self.first_sent is None:
            return 0
        return max(0, min(self.sent_ms, int((at - self.first_sent) * 1000)))
