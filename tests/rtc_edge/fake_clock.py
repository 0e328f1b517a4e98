"""A monotonic clock the edge's unit tests move by hand."""

from __future__ import annotations


class FakeClock:
    """A clock the test moves by hand (``now``, in seconds)."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now
