"""Where the CPU goes: process CPU time of each service, sampled from /proc.

Wall-clock latency on a shared machine says as much about the neighbours as about the stack;
the CPU time a process was given does not. Each service of a spawned stack (and the load
tester with its student processes, kept apart) is sampled from ``/proc/<pid>/stat`` (user +
system time, children that exited included) at the start and end of each phase of a run, so
the report can say how many cores each service used per connected student.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its waited-for children so far.

    Raises:
        ProcessLookupError: The process is gone.
    """
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError as error:
        raise ProcessLookupError(pid) from error
    # The command name (field 2) may hold spaces: split after its closing parenthesis.
    fields = text.rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return (utime + stime + cutime + cstime) / CLOCK_TICKS


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds per named process group at one moment (``time.monotonic()``)."""

    at: float
    seconds: dict[str, float]


@dataclass
class CpuMeter:
    """Samples the CPU time of named groups of processes.

    Args:
        groups: Name -> pids (a service may be several processes). A process that exits keeps
            its last reading, so a group never goes backwards.
    """

    groups: dict[str, list[int]]
    _last: dict[int, float] = field(default_factory=dict)

    def sample(self) -> CpuSample:
        """The groups' CPU seconds now."""
        seconds: dict[str, float] = {}
        for name, pids in self.groups.items():
            total = 0.0
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    self._last[pid] = process_cpu_seconds(pid)
                total += self._last.get(pid, 0.0)
            seconds[name] = total
        return CpuSample(time.monotonic(), seconds)


@dataclass(frozen=True)
class CpuWindow:
    """Cores each group used between two samples."""

    seconds: float
    cores: dict[str, float]

    @classmethod
    def between(cls, start: CpuSample, end: CpuSample) -> CpuWindow:
        """The window from ``start`` to ``end``."""
        wall = max(end.at - start.at, 1e-9)
        return cls(
            seconds=wall,
            cores={
                name: (end.seconds[name] - start.seconds.get(name, 0.0)) / wall
                for name in end.seconds
            },
        )

    def total(self, names: list[str]) -> float:
        """Cores of the named groups together."""
        return sum(self.cores.get(name, 0.0) for name in names)


def cpu_report(
    phases: dict[str, CpuWindow],
    *,
    services: list[str],
    students: int,
    active_students: float,
) -> dict[str, object]:
    """The report's ``cpu`` section.

    Args:
        phases: ``baseline`` (stack up, no students), ``listening`` (every student connected,
            nobody talking) and ``run`` (the questions), whichever were measured.
        services: Groups that are the stack (the rest, e.g. the load tester, are reported
            but kept out of the per-student numbers).
        students: Students connected in ``listening``.
        active_students: Mean number of students in a turn (from speaking to the end of the
            answer) during ``run``.
    """
    out: dict[str, object] = {
        "method": "process CPU time (user + system) from /proc/<pid>/stat at the phase "
        "boundaries; robust to other load on the machine, unlike wall-clock latency",
        "phases": {
            name: {
                "seconds": round(w.seconds, 2),
                "cores": {k: round(v, 4) for k, v in w.cores.items()},
            }
            for name, w in phases.items()
        },
    }
    base = phases.get("baseline")
    listening = phases.get("listening")
    run = phases.get("run")
    out["students_listening"] = students
    harness = [
        name for name in (listening or run or CpuWindow(0.0, {})).cores if name not in services
    ]
    if base and listening and students and harness:
        # The simulated students' own cost, apart: they share the cores with the stack.
        out["harness_cores_per_listening_student"] = round(
            (listening.total(harness) - base.total(harness)) / students, 4
        )
    if base and listening and students:
        out["cores_per_listening_student"] = {
            name: round((listening.cores[name] - base.cores.get(name, 0.0)) / students, 4)
            for name in services
        }
        out["cores_per_listening_student_total"] = round(
            (listening.total(services) - base.total(services)) / students, 4
        )
    if listening and run and active_students > 0:
        out["active_students_mean"] = round(active_students, 2)
        out["cores_per_active_student"] = {
            name: round((run.cores[name] - listening.cores.get(name, 0.0)) / active_students, 4)
            for name in services
        }
        # A student in a turn costs what a listening one does, plus the turn's work.
        out["cores_per_active_student_total"] = round(
            (run.total(services) - listening.total(services)) / active_students
            + float(out.get("cores_per_listening_student_total", 0.0)),  # type: ignore[arg-type]
            4,
        )
    return out
