"""Students in their own processes: ``python -m loadtest.worker SPEC OUT``.

A simulated student's media work (RTP, SRTP, Opus) competes with whatever shares its event
loop; with every student in the harness's own process, the harness starves before the stack
does. ``WorkerPool`` splits the students over child processes, each running its share on the
same run clock (``time.monotonic()`` is one clock for every process of the machine), and
merges what they measured into the run's recorder.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import itertools
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from vtutor.gateway.v1 import gateway_pb2_grpc

from loadtest.config import LoadTestConfig
from loadtest.cpu import CpuMeter
from loadtest.recorder import Recorder
from loadtest.samples import MediaLog, TurnSample
from loadtest.student import RunContext
from loadtest.utterances import Utterance

logger = logging.getLogger(__name__)
STUDENTS_GROUP = "loadtest (students)"


def _spec(context: RunContext, indices: range, folder: Path, number: int) -> dict[str, Any]:
    return {
        "config": dataclasses.asdict(context.config),
        "utterances": [
            {"name": u.name, "text": u.text, "pcm": base64.b64encode(u.pcm).decode()}
            for u in context.utterances
        ],
        "gateway": context.gateway_address,
        "api_key": context.api_key,
        "edge_url": context.edge_url,
        "origin": context.recorder.origin,
        "indices": [indices.start, indices.stop],
        "status_file": str(folder / f"status-{number}"),
        "go_file": str(folder / "go"),
    }


def sample_from_json(data: dict[str, Any]) -> TurnSample:
    """A sample back from ``dataclasses.asdict``."""
    return TurnSample(**{**data, "media": MediaLog(**data["media"])})


class WorkerPool:
    """The run's students split over child processes.

    Each worker reports how many of its students have connected (or failed to) in a status
    file; the run's coordinator lets the questions start by writing the start time to a go
    file every worker watches.
    """

    def __init__(self, context: RunContext, processes: int, cpu: CpuMeter | None) -> None:
        self.context = context
        self.processes = processes
        self.cpu = cpu
        self.folder = Path(tempfile.mkdtemp(prefix="loadtest-workers-"))
        self.children: list[tuple[asyncio.subprocess.Process, Path, Path]] = []
        self._announcer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Starts the workers, each with its share of the students."""
        total = self.context.config.students
        bounds = [round(total * i / self.processes) for i in range(self.processes + 1)]
        for number, (low, high) in enumerate(itertools.pairwise(bounds)):
            if high <= low:
                continue
            spec = self.folder / f"spec-{number}.json"
            out = self.folder / f"out-{number}.json"
            spec.write_text(json.dumps(_spec(self.context, range(low, high), self.folder, number)))
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "loadtest.worker", str(spec), str(out)
            )
            self.children.append((child, out, self.folder / f"status-{number}"))
            if self.cpu is not None:
                self.cpu.groups.setdefault(STUDENTS_GROUP, []).append(child.pid)
        self._announcer = asyncio.create_task(self._announce_go())

    def settled(self) -> int:
        """Students of every worker that have connected or failed to."""
        total = 0
        for _, _, status in self.children:
            with contextlib.suppress(OSError, ValueError):
                total += int(status.read_text() or 0)
        return total

    async def _announce_go(self) -> None:
        await self.context.go.wait()
        staged = self.folder / "go.tmp"
        staged.write_text(repr(self.context.talk_at))
        staged.rename(self.folder / "go")  # atomic: a worker never reads half a time

    async def finish(self) -> None:
        """Waits for every worker and merges what its students measured."""
        from loadtest.runner import max_run_s

        recorder = self.context.recorder
        end = recorder.origin + max_run_s(self.context.config) + 15
        try:
            for child, out, _ in self.children:
                try:
                    await asyncio.wait_for(child.wait(), max(end - time.monotonic(), 15))
                except TimeoutError:
                    child.kill()
                    await child.wait()
                    recorder.error("CLIENT_TIMEOUT")
                if not out.exists():
                    recorder.error("CLIENT_ERROR")
                    logger.error("a student worker exited with %s, no results", child.returncode)
                    continue
                merge(recorder, json.loads(out.read_text()))
        finally:
            if self._announcer is not None:
                self._announcer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._announcer


def merge(recorder: Recorder, result: dict[str, Any]) -> None:
    """Adds a worker's results to the run's recorder."""
    for data in result["samples"]:
        recorder.add(sample_from_json(data))
    for status, count in result["errors"].items():
        recorder.errors[status] += count
    recorder.sessions_created += result["sessions_created"]
    recorder.unexpected_turns += result["unexpected_turns"]


async def _work(spec: dict[str, Any]) -> dict[str, Any]:
    from loadtest.runner import max_run_s, run_students

    config = LoadTestConfig(**spec["config"])
    utterances = [
        Utterance(u["name"], u["text"], base64.b64decode(u["pcm"])) for u in spec["utterances"]
    ]
    recorder = Recorder()
    recorder.origin = spec["origin"]
    channel = grpc.aio.insecure_channel(
        spec["gateway"], options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)]
    )
    context = RunContext(
        config=config,
        utterances=utterances,
        recorder=recorder,
        gateway=gateway_pb2_grpc.GatewayServiceStub(channel),
        api_key=spec["api_key"],
        deadline=recorder.origin + max_run_s(config),
        edge_url=spec["edge_url"],
        go_file=spec["go_file"],
        gateway_address=spec["gateway"],
    )
    status = Path(spec["status_file"])

    written: list[int] = []

    def write_status() -> None:
        settled = recorder.students_settled
        if written != [settled]:  # a file write only when it changed (students share the CPU)
            status.write_text(str(settled))
            written[:] = [settled]

    async def report_status() -> None:
        while True:
            write_status()
            await asyncio.sleep(0.1)

    reporter = asyncio.create_task(report_status())
    try:
        await run_students(context, range(*spec["indices"]))
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        await channel.close(None)
    return {
        "samples": [dataclasses.asdict(s) for s in recorder.samples],
        "errors": dict(recorder.errors),
        "sessions_created": recorder.sessions_created,
        "unexpected_turns": recorder.unexpected_turns,
        "pid": os.getpid(),
    }


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when installed: students share the cores with the stack they measure,
    and uvloop costs less per RTP packet and timer than asyncio's loop (issue 20)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> int:
    """Entry point of a worker: runs its students, writes their results."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    spec_path, out_path = (argv or sys.argv[1:])[:2]
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        result = runner.run(_work(json.loads(Path(spec_path).read_text())))
    Path(out_path).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
