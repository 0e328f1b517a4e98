"""Runs a load test: students started over the ramp-up, progress while they talk, the samples."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Callable

import grpc
from vtutor.gateway.v1 import gateway_pb2_grpc

from loadtest.config import LoadTestConfig
from loadtest.cpu import CpuMeter, CpuWindow
from loadtest.recorder import Recorder
from loadtest.student import RunContext, Student
from loadtest.utterances import Utterance

logger = logging.getLogger(__name__)
# After the deadline, turns in flight get this long on top of the turn timeout.
DRAIN_GRACE_S = 30.0
# CPU report: the stack alone is measured this long before the first student connects.
BASELINE_S = 2.0
# Questions start once every student has connected (or failed to), or this long after the
# ramp-up at the latest.
CONNECT_ALLOWANCE_S = 60.0


async def run_load(
    config: LoadTestConfig,
    utterances: list[Utterance],
    *,
    gateway_address: str,
    api_key: str,
    edge_url: str = "",
    progress_interval_s: float = 2.0,
    cpu: CpuMeter | None = None,
    student_processes: int = 0,
) -> Recorder:
    """Runs ``config.students`` students against a gateway (and edge, for WebRTC).

    Args:
        cpu: When given, CPU time is sampled for the report's phases (``recorder.cpu``):
            baseline (no students), listening (``config.listen_s``, everyone connected and
            silent) and run (the questions).
        student_processes: Run the students in this many child processes (``loadtest.worker``)
            so they do not compete with this process's event loop; 0: here. Their CPU is
            added to the meter's ``loadtest (students)`` group.

    Returns:
        What was measured.
    """
    baseline_start = cpu.sample() if cpu else None
    if cpu:
        await asyncio.sleep(BASELINE_S)
    recorder = Recorder()
    if cpu and baseline_start:
        recorder.cpu["baseline"] = CpuWindow.between(baseline_start, cpu.sample())
    channel = grpc.aio.insecure_channel(
        gateway_address,
        options=[
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
            # One HTTP/2 connection per student would be closer to real browsers, but every
            # student shares this process anyway; streams on one channel are independent.
            ("grpc.use_local_subchannel_pool", 1),
        ],
    )
    context = RunContext(
        config=config,
        utterances=utterances,
        recorder=recorder,
        gateway=gateway_pb2_grpc.GatewayServiceStub(channel),
        api_key=api_key,
        deadline=recorder.origin + max_run_s(config),
        edge_url=edge_url,
        gateway_address=gateway_address,
    )

    async def report_progress() -> None:
        while True:
            await asyncio.sleep(progress_interval_s)
            recorder.print_progress(config.students)

    async def coordinate(settled: Callable[[], int]) -> None:
        """Every student connected, then the listening phase, then the questions."""
        latest = recorder.origin + config.ramp_up_s + CONNECT_ALLOWANCE_S
        # Polled: students in worker processes report through files, not events.
        while settled() < config.students and time.monotonic() < latest:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        if config.listen_s > 0:
            listening = cpu.sample() if cpu else None
            await asyncio.sleep(config.listen_s)
            recorder.students_listening = config.students - sum(recorder.errors.values())
            if cpu and listening:
                recorder.cpu_run_start = cpu.sample()
                recorder.cpu["listening"] = CpuWindow.between(listening, recorder.cpu_run_start)
        if cpu and recorder.cpu_run_start is None:
            recorder.cpu_run_start = cpu.sample()
        context.start_talking(time.monotonic())

    reporter = asyncio.create_task(report_progress()) if not student_processes else None
    phases = None
    try:
        if student_processes:
            from loadtest.worker import WorkerPool

            pool = WorkerPool(context, student_processes, cpu)
            await pool.start()
            phases = asyncio.create_task(coordinate(pool.settled))
            await pool.finish()
        else:
            phases = asyncio.create_task(coordinate(lambda: recorder.students_settled))
            await run_students(context, range(config.students))
    finally:
        if cpu and recorder.cpu_run_start is not None:
            recorder.cpu["run"] = CpuWindow.between(recorder.cpu_run_start, cpu.sample())
        for task in [t for t in (reporter, phases) if t is not None]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        recorder.print_progress(config.students)
        print(file=sys.stderr)
        await channel.close(None)
    recorder.finished = time.monotonic()
    return recorder


def max_run_s(config: LoadTestConfig) -> float:
    """How long the students of a run may take at most, whatever the stack does."""
    return (
        config.ramp_up_s
        + CONNECT_ALLOWANCE_S
        + config.listen_s
        + config.duration_s
        + config.turn_timeout_s
        + DRAIN_GRACE_S
    )


async def run_students(context: RunContext, indices: range) -> None:
    """Runs the students ``indices`` of the run (each started at its place in the ramp-up)."""
    config, recorder = context.config, context.recorder

    async def start(index: int) -> None:
        student = _student(config, index, context)
        delay = context.recorder.origin + config.ramp_up_s * index / config.students
        await asyncio.sleep(max(delay - time.monotonic(), 0.0))
        await student.run()

    tasks = [asyncio.create_task(start(i)) for i in indices]
    remaining = context.recorder.origin + max_run_s(config) - time.monotonic()
    done, pending = await asyncio.wait(tasks, timeout=max(remaining, 1.0))
    for task in pending:  # bounded in time, whatever the stack does
        task.cancel()
        recorder.error("CLIENT_TIMEOUT")
    for task in [*done, *pending]:
        with contextlib.suppress(asyncio.CancelledError):
            exc = task.exception() if task.done() and not task.cancelled() else None
            if exc is not None:
                logger.error("a student failed", exc_info=exc)
                recorder.error("CLIENT_ERROR")
    if pending:
        await asyncio.wait(pending, timeout=10)


def _student(config: LoadTestConfig, index: int, context: RunContext) -> Student:
    if config.mode == "webrtc":
        from loadtest.webrtc_student import WebRtcStudent  # aiortc only when asked for

        return WebRtcStudent(index, context)
    from loadtest.grpc_student import GrpcStudent

    return GrpcStudent(index, context)
