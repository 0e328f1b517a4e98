"""Everything a run measured, shared by its students, and the progress line."""

from __future__ import annotations

import sys
import time
from collections import Counter

import numpy as np

from loadtest.samples import TurnSample


class Recorder:
    """Turn samples, errors by status, and counters, for one run."""

    def __init__(self) -> None:
        self.origin = time.monotonic()
        self.finished = 0.0  # set when the run is over
        self.samples: list[TurnSample] = []
        self.errors: Counter[str] = Counter()
        self.sessions_created = 0
        self.students_active = 0
        self.unexpected_turns = 0

    def add(self, sample: TurnSample) -> None:
        """Keeps a sample (it is filled in as the turn goes)."""
        self.samples.append(sample)

    def error(self, status: str) -> None:
        """Counts an error by its status name (gRPC status, HTTP_<code>, CLIENT_TIMEOUT)."""
        self.errors[status] += 1

    @property
    def asked(self) -> list[TurnSample]:
        """Samples of questions the students asked (not turns the gateway made up)."""
        return [s for s in self.samples if s.index >= 0]

    def progress_line(self, students: int) -> str:
        """One line: time, students, turns, errors, median end of speech -> first frame."""
        outcomes = Counter(s.outcome for s in self.samples)
        firsts = [
            ms
            for s in self.samples
            if (
                ms := s.client_ms().get(
                    "eos_to_first_frame", s.client_ms().get("eos_to_first_audio")
                )
            )
            is not None
        ]
        median = f"{np.median(firsts):.0f} ms" if firsts else "-"
        return (
            f"[{time.monotonic() - self.origin:6.1f} s] students {self.students_active}/{students}"
            f"  asked {len(self.asked)}  completed {outcomes['completed']}"
            f"  interrupted {outcomes['interrupted']}  failed {outcomes['failed']}"
            f"  errors {sum(self.errors.values())}  eos->first frame p50 {median}"
        )

    def print_progress(self, students: int) -> None:
        """Writes the progress line to stderr (rewritten in place on a terminal)."""
        line = self.progress_line(students)
        if sys.stderr.isatty():
            sys.stderr.write("\r" + line.ljust(120))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()
