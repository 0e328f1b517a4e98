"""The clock of one Converse (or Chat) stream: microseconds since the stream was accepted."""

from __future__ import annotations

import time


class StreamClock:
    """Monotonic microseconds from the moment the stream's config was accepted."""

    def __init__(self) -> None:
        self._start_ns = time.monotonic_ns()

    def now_us(self) -> int:
        """Microseconds since the stream started."""
        return (time.monotonic_ns() - self._start_ns) // 1000

    def us_at(self, monotonic_s: float) -> int:
        """The stream time of an instant given as ``time.monotonic()``."""
        return int(monotonic_s * 1_000_000) - self._start_ns // 1000
