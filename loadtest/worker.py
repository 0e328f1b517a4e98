"""Students in their own processes: ``python -m loadtest.worker SPEC OUT``.

A simulated student's media work (RTP, SRTP, Opus) competes with whatever shares its event
loop; with every student in the harness's own process, the harness starves before the stack
does. ``run_in_processes`` splits the students over child processes, each running its share
with the same run clock (``time.monotonic()`` is one clock for every process of the machine),
and merges what they measured into the run's recorder.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import itertools
import json
import logging
import os
import sys
import tempfile
import time
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


def _spec(context: RunContext, indices: range) -> dict[str, Any]:
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
        "talk_at": context.talk_at,
        "deadline": context.deadline,
        "indices": [indices.start, indices.stop],
    }


def sample_from_json(data: dict[str, Any]) -> TurnSample:
    """A sample back from ``dataclasses.asdict``."""
    return TurnSample(**{**data, "media": MediaLog(**data["media"])})


async def run_in_processes(context: RunContext, processes: int, cpu: CpuMeter | None) -> None:
    """Runs the context's students in ``processes`` children; their results go to its recorder.

    Raises:
        RuntimeError: A worker failed without writing its results.
    """
    total = context.config.students
    bounds = [round(total * i / processes) for i in range(processes + 1)]
    folder = Path(tempfile.mkdtemp(prefix="loadtest-workers-"))
    children = []
    for number, (low, high) in enumerate(itertools.pairwise(bounds)):
        if high <= low:
            continue
        spec, out = folder / f"spec-{number}.json", folder / f"out-{number}.json"
        spec.write_text(json.dumps(_spec(context, range(low, high))))
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "loadtest.worker", str(spec), str(out)
        )
        children.append((child, out))
        if cpu is not None:
            cpu.groups.setdefault(STUDENTS_GROUP, []).append(child.pid)
    from loadtest.runner import run_limit_s

    limit = context.recorder.origin + run_limit_s(context) + 15 - time.monotonic()
    recorder = context.recorder
    for child, out in children:
        try:
            await asyncio.wait_for(child.wait(), max(limit, 15))
        except TimeoutError:
            child.kill()
            await child.wait()
            recorder.error("CLIENT_TIMEOUT")
        if not out.exists():
            recorder.error("CLIENT_ERROR")
            logger.error("a student worker exited with %s and no results", child.returncode)
            continue
        merge(recorder, json.loads(out.read_text()))


def merge(recorder: Recorder, result: dict[str, Any]) -> None:
    """Adds a worker's results to the run's recorder."""
    for data in result["samples"]:
        recorder.add(sample_from_json(data))
    for status, count in result["errors"].items():
        recorder.errors[status] += count
    recorder.sessions_created += result["sessions_created"]
    recorder.unexpected_turns += result["unexpected_turns"]


async def _work(spec: dict[str, Any]) -> dict[str, Any]:
    from loadtest.runner import run_students

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
        deadline=spec["deadline"],
        edge_url=spec["edge_url"],
        talk_at=spec["talk_at"],
        gateway_address=spec["gateway"],
    )
    try:
        await run_students(context, range(*spec["indices"]))
    finally:
        await channel.close(None)
    return {
        "samples": [dataclasses.asdict(s) for s in recorder.samples],
        "errors": dict(recorder.errors),
        "sessions_created": recorder.sessions_created,
        "unexpected_turns": recorder.unexpected_turns,
        "pid": os.getpid(),
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point of a worker: runs its students, writes their results."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    spec_path, out_path = (argv or sys.argv[1:])[:2]
    result = asyncio.run(_work(json.loads(Path(spec_path).read_text())))
    Path(out_path).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
