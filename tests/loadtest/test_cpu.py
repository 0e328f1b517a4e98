"""The harness's CPU accounting: what it reports per process group sums to the CPU time the
kernel charged those processes (their rusage when reaped)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

import pytest

from loadtest.cpu import CpuMeter, CpuWindow, cpu_report
from loadtest.report import cpu_table

pytestmark = pytest.mark.unit

BURN = "import time\nend = time.process_time() + {s}\nwhile time.process_time() < end: pass\n"


def test_cpu_meter_sums_to_the_processes_real_cpu_time() -> None:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    burners = [subprocess.Popen([sys.executable, "-c", BURN.format(s=s)]) for s in (0.3, 0.6)]
    meter = CpuMeter({"busy": [p.pid for p in burners], "self": [os.getpid()]})
    start = meter.sample()
    while any(p.poll() is None for p in burners):  # poll() reaps them as they exit
        meter.sample()  # a process's last reading before it exits is kept
        time.sleep(0.005)
    end = meter.sample()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The kernel's account of the reaped burners, from their start to their exit.
    charged = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert charged >= 0.9
    # What a process burns between its last reading and its exit is missed (a poll interval,
    # longer when the machine is busy).
    assert end.seconds["busy"] == pytest.approx(charged, abs=0.15)
    window = CpuWindow.between(start, end)
    assert window.cores["busy"] * window.seconds == pytest.approx(
        end.seconds["busy"] - start.seconds["busy"]
    )
    assert window.cores["busy"] > 0  # the burners ran while they were measured


def test_per_student_numbers_subtract_the_phase_before() -> None:
    phases = {
        "baseline": CpuWindow(10.0, {"edge": 0.1, "students": 0.0}),
        "listening": CpuWindow(10.0, {"edge": 0.3, "students": 0.5}),
        "run": CpuWindow(10.0, {"edge": 0.7, "students": 0.9}),
    }
    report = cpu_report(phases, services=["edge"], students=4, active_students=2.0)
    assert report["cores_per_listening_student"] == {"edge": 0.05}
    assert report["cores_per_active_student"] == {"edge": 0.2}
    assert report["cores_per_active_student_total"] == 0.25  # listening + the turn's work
    assert "students" not in report["cores_per_listening_student"]  # type: ignore[operator]


def test_the_harness_cost_per_student_is_reported_apart_and_tabled() -> None:
    phases = {
        "baseline": CpuWindow(10.0, {"edge": 0.1, "students": 0.0}),
        "listening": CpuWindow(10.0, {"edge": 0.3, "students": 0.5}),
        "run": CpuWindow(10.0, {"edge": 0.7, "students": 0.9}),
    }
    report = cpu_report(phases, services=["edge"], students=4, active_students=2.0)
    assert report["harness_cores_per_listening_student"] == 0.125
    assert report["cores_per_listening_student_total"] == 0.05  # the stack's alone
    table = cpu_table(report).splitlines()
    assert table[1].split() == ["edge", "0.3000", "0.7000", "0.0500", "0.2000"]
    assert table[2].split() == ["students", "0.5000", "0.9000", "0.1250", "-"]
    assert table[3].split()[-2:] == ["0.0500", "0.2500"]
