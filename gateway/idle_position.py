"""Where the client is in the avatar's idle loop, so a turn's first frame continues from it.

The client (rtc_edge) reports the idle frame it shows now and then; a turn starting later asks
lip-sync to begin at the frame that will be on screen when its first frame replaces the loop,
so the head does not jump when the tutor starts talking (issue 14).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class IdleLoopPosition:
    """The latest idle frame the client reported and when (on the stream's clock)."""

    index: int | None = None
    reported_us: int = 0

    def report(self, index: int, now_us: int) -> None:
        """The client shows idle frame ``index`` at ``now_us``."""
        self.index = index
        self.reported_us = now_us

    def frame_at(self, at_us: int, fps: int) -> int:
        """The idle frame on screen at ``at_us`` if the loop plays on at ``fps``; 0 when the
        client never reported (lip-sync takes it modulo the loop's length)."""
        if self.index is None or fps <= 0:
            return 0
        elapsed_frames = max(0, round((at_us - self.reported_us) * fps / 1_000_000))
        return self.index + elapsed_frames
