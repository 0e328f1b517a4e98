"""Everything a run measured, shared by its students, and the progress line."""

from __future__ import annotations

import sys
import time
from collections import Counter

import numpy as np

from loadtest.cpu import CpuSample, CpuWindow
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
        self.students_settled = 0  # connected or failed to
        self.unexpected_turns = 0
        # CPU by phase ("baseline", "listening", "run"), when the run measured it.
        self.cpu: dict[str, CpuWindow] = {}
        self.cpu_run_start: CpuSample | None = None
        self.students_listening = 0

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

    def active_students(self) -> float:
        """Mean number of students in a turn (speaking, waiting or hearing the answer) over
        the run phase."""
        run = self.cpu.get("run")
        if run is None or self.cpu_run_start is None:
            return 0.0
        start = self.cpu_run_start.at
        end = start + run.seconds
        busy = 0.0
        for sample in self.samples:
            if not sample.speech_start:
                continue
            stop = sample.end_at or sample.last_media_at or sample.speech_end
            busy += max(0.0, min(stop, end) - max(sample.speech_start, start))
        return busy / run.seconds
