"""A one-line progress bar on a terminal, plain percentage lines otherwise (logs, CI)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Shows ``done / total`` bytes of one item.

    Args:
        label: What is being fetched.
        total: Expected size in bytes; 0 when unknown.
        stream: Where to draw (stderr by default).
    """

    def __init__(self, label: str, total: int, stream: TextIO | None = None) -> None:
        self.label = label
        self.total = total
        self.stream = stream or sys.stderr
        self._tty = self.stream.isatty()
        self._last_draw = 0.0
        self._last_decile = -1

    def update(self, done: int) -> None:
        """Redraws at most 10 times a second on a terminal, every 10 % elsewhere."""
        if self._tty:
            now = time.monotonic()
            if now - self._last_draw < 0.1 and done < self.total:
                return
            self._last_draw = now
            self.stream.write(f"\r{self._line(done)}")
        else:
            decile = done * 10 // self.total if self.total else -1
            if decile <= self._last_decile:
                return
            self._last_decile = decile
            self.stream.write(self._line(done) + "\n")
        self.stream.flush()

    def finish(self, note: str = "done") -> None:
        end = "\n" if self._tty else ""
        self.stream.write(f"{end}{self.label}: {note}\n")
        self.stream.flush()

    def _line(self, done: int) -> str:
        if not self.total:
            return f"{self.label}: {_size(done)}"
        width = 30
        filled = width * done // self.total
        percent = 100 * done // self.total
        bar = "#" * filled + "-" * (width - filled)
        return f"{self.label}: [{bar}] {percent:3d}% {_size(done)}/{_size(self.total)}"


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{count} B"
        value /= 1024
    return f"{count} B"
