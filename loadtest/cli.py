"""``python -m loadtest``: the command line, a run, the report files, and the exit status.

Exit status: 0 when the run met the SLO (or none was given), 1 when it missed a threshold,
2 when it could not run (bad arguments, the stack did not start, the gateway was unreachable).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from loadtest.config import LoadTestConfig
from loadtest.cpu import CpuMeter, cpu_report
from loadtest.gateway_counters import counted_between, read_speculations
from loadtest.plot import write_png
from loadtest.ramp import default_ramp_slo, ramp_point, ramp_summary, ramp_table, write_ramp_png
from loadtest.recorder import Recorder
from loadtest.report import build_report, summary_table
from loadtest.runner import run_load
from loadtest.slo import Slo
from loadtest.stack import LocalStack
from loadtest.utterances import Utterance, default_voice, load_utterances
from svc_core.healthcheck import is_serving

EXIT_OK, EXIT_SLO_MISSED, EXIT_CANNOT_RUN = 0, 1, 2


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--gateway", metavar="HOST:PORT", help="a running gateway")
    target.add_argument(
        "--spawn-stack",
        action="store_true",
        help="start the services, gateway (and coturn and edge for webrtc) as child processes",
    )
    p.add_argument("--edge", metavar="URL", help="a running rtc_edge (webrtc mode, --gateway)")
    p.add_argument(
        "--api-key",
        default=os.environ.get("GATEWAY_API_KEY", ""),
        help="the gateway's service credential (default: $GATEWAY_API_KEY)",
    )
    p.add_argument("--mode", choices=["grpc", "webrtc"], default="grpc")
    p.add_argument(
        "--student",
        choices=["light", "decoding"],
        default="light",
        help="webrtc students: read RTP only (light) or decode every frame",
    )
    p.add_argument(
        "--student-processes",
        type=int,
        default=0,
        metavar="K",
        help="run the students in K child processes (0: in this one); their CPU is reported "
        "apart from the stack's",
    )
    p.add_argument(
        "--listen",
        type=float,
        default=None,
        metavar="S",
        help="seconds every connected student listens before the first question (the CPU "
        "report's listening phase; default 5 with --spawn-stack, else 0)",
    )
    p.add_argument(
        "--ramp",
        metavar="N,N,...",
        help="run once per student count (e.g. 2,4,6,8,10,12) on one stack, stop at the first "
        "count that breaks the SLO (--slo, else p95 first frame <= 800 ms, >= 24 fps, no "
        "unanswered question), and report the largest count that held",
    )
    p.add_argument("--students", type=int, default=4)
    p.add_argument("--ramp-up", type=float, default=2.0, help="seconds to start every student")
    p.add_argument("--duration", type=float, default=30.0, help="seconds questions may start")
    p.add_argument("--think-time", type=float, default=2.0, help="seconds between questions")
    p.add_argument(
        "--barge-in-every",
        type=int,
        default=0,
        metavar="N",
        help="interrupt every Nth answer with the next question (0: never)",
    )
    p.add_argument("--barge-in-after", type=float, default=1.0, help="seconds into the answer")
    p.add_argument("--turn-timeout", type=float, default=45.0)
    p.add_argument("--max-turns", type=int, default=0, help="questions per student (0: no cap)")
    p.add_argument("--no-video", action="store_true", help="audio answers only (gRPC)")
    p.add_argument(
        "--video-size", type=int, default=128, help="frame width and height (0: avatar's)"
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--utterance",
        type=Path,
        action="append",
        default=[],
        help="a WAV file (or a folder of them) to speak; default: questions in --voice",
    )
    p.add_argument(
        "--voice",
        choices=["piper", "espeak"],
        help="who speaks the default questions (default: piper when installed, else espeak)",
    )
    p.add_argument(
        "--end-of-turn",
        choices=["smart_turn", "silence"],
        help="the spawned ASR's end-of-turn rule (default: $ASR_END_OF_TURN, else smart_turn "
        "as `make dev` runs; silence for espeak-ng questions, which the model misjudges)",
    )
    p.add_argument("--slo", type=Path, help="YAML/JSON thresholds; missing them exits 1")
    p.add_argument("--out", type=Path, default=Path("bench-results/loadtest"), help="folder")
    p.add_argument("--name", default="loadtest", help="report file names: NAME.json, NAME.png")
    p.add_argument("--progress-interval", type=float, default=2.0)
    return p


def config_from(args: argparse.Namespace) -> LoadTestConfig:
    """The run's settings from the command line.

    Raises:
        ValueError: They are out of range.
    """
    return LoadTestConfig(
        mode=args.mode,
        students=args.students,
        ramp_up_s=args.ramp_up,
        duration_s=args.duration,
        think_time_s=args.think_time,
        barge_in_every=args.barge_in_every,
        barge_in_after_s=args.barge_in_after,
        turn_timeout_s=args.turn_timeout,
        max_turns_per_student=args.max_turns,
        video=not args.no_video,
        video_size=args.video_size,
        seed=args.seed,
        student_kind=args.student,
        listen_s=args.listen if args.listen is not None else (5.0 if args.spawn_stack else 0.0),
    )


def run(args: argparse.Namespace) -> int:
    """Runs the load test the arguments describe; returns the exit status."""
    try:
        config = config_from(args)
        slo = Slo.load(args.slo) if args.slo else None
        voice = args.voice or default_voice()
        utterances = load_utterances(args.utterance, voice)
    except (ValueError, OSError, RuntimeError) as exc:
        print(f"loadtest: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    if not args.api_key:
        if not args.spawn_stack:
            print("loadtest: give --api-key or set GATEWAY_API_KEY", file=sys.stderr)
            return EXIT_CANNOT_RUN
        args.api_key = "loadtest-api-key"  # the spawned gateway's own
    stack: LocalStack | None = None
    gateway, edge = args.gateway, args.edge or ""
    if args.spawn_stack:
        stack = LocalStack(
            args.api_key,
            webrtc=config.mode == "webrtc",
            env={"ASR_END_OF_TURN": end_of_turn(args, voice)},
        )
        print(f"starting the stack (logs in {stack.workdir})", file=sys.stderr)
        try:
            stack.start()
        except RuntimeError as exc:
            print(f"loadtest: the stack did not start: {exc}", file=sys.stderr)
            return EXIT_CANNOT_RUN
        gateway, edge = stack.gateway_address, stack.edge_url
    try:
        if not is_serving(gateway, timeout_s=5):
            print(f"loadtest: no serving gateway at {gateway}", file=sys.stderr)
            return EXIT_CANNOT_RUN
        if config.mode == "webrtc" and not edge:
            print("loadtest: webrtc mode needs --edge URL (or --spawn-stack)", file=sys.stderr)
            return EXIT_CANNOT_RUN
        target = {"gateway": gateway, "edge": edge, "spawned": str(bool(stack))}
        target["questions"] = "recorded" if args.utterance else f"default, {voice} voice"
        if stack is not None:
            target["end_of_turn"] = stack.env["ASR_END_OF_TURN"]
        if args.ramp:
            return run_ramp(args, config, slo, utterances, stack, target)
        report, recorder = one_run(args, config, utterances, stack, target)
    finally:
        if stack is not None:
            stack.stop()
    status = EXIT_OK
    if slo is not None:
        misses = slo.check(report)
        report["slo"] = {"file": str(args.slo), "passed": not misses, "misses": misses}
        status = EXIT_SLO_MISSED if misses else EXIT_OK
    paths = write_outputs(report, recorder, args.out, args.name)
    print(summary_table(report))
    if "slo" in report:
        verdict = "met" if report["slo"]["passed"] else "MISSED"
        print(f"SLO {args.slo}: {verdict}")
        for miss in report["slo"]["misses"]:
            print(f"  {miss}")
    print("wrote " + ", ".join(str(p) for p in paths))
    return status


def end_of_turn(args: argparse.Namespace, voice: str) -> str:
    """The spawned ASR's end-of-turn rule: as asked, else the one that suits the voice."""
    if args.end_of_turn:
        return str(args.end_of_turn)
    if os.environ.get("ASR_END_OF_TURN"):
        return os.environ["ASR_END_OF_TURN"]
    # Recordings are taken to be of people, whose turn ends the model hears.
    return "silence" if voice == "espeak" and not args.utterance else "smart_turn"


def one_run(
    args: argparse.Namespace,
    config: LoadTestConfig,
    utterances: list[Utterance],
    stack: LocalStack | None,
    target: dict[str, str],
) -> tuple[dict[str, Any], Recorder]:
    """One load test against the target; the report (with CPU when the stack is ours)."""
    meter = None
    services: list[str] = []
    metrics_url = stack.gateway_metrics_url if stack is not None else ""
    speculations_before = read_speculations(metrics_url) if metrics_url else None
    if stack is not None:
        groups = stack.processes()
        services = list(groups)
        # The load tester (and its students) apart from the stack it measures.
        meter = CpuMeter({**groups, "loadtest (students)": [os.getpid()]})
    recorder = asyncio.run(
        run_load(
            config,
            utterances,
            gateway_address=target["gateway"],
            api_key=args.api_key,
            edge_url=target["edge"],
            progress_interval_s=args.progress_interval,
            cpu=meter,
            student_processes=args.student_processes,
        )
    )
    report = build_report(config, recorder, target=target)
    if metrics_url:
        speculations = counted_between(speculations_before, read_speculations(metrics_url))
        if speculations:
            report["speculations"] = speculations
    if recorder.cpu:
        report["cpu"] = cpu_report(
            recorder.cpu,
            services=services,
            students=recorder.students_listening or config.students,
            active_students=recorder.active_students(),
        )
    return report, recorder


def run_ramp(
    args: argparse.Namespace,
    config: LoadTestConfig,
    slo: Slo | None,
    utterances: list[Utterance],
    stack: LocalStack | None,
    target: dict[str, str],
) -> int:
    """Runs one load test per student count until the SLO breaks; prints and plots the ramp."""
    try:
        counts = [int(n) for n in args.ramp.split(",") if n.strip()]
    except ValueError:
        print("loadtest: --ramp takes student counts such as 2,4,6", file=sys.stderr)
        return EXIT_CANNOT_RUN
    gate = slo or default_ramp_slo(config)
    points: list[dict[str, Any]] = []
    for count in counts:
        print(f"ramp: {count} students", file=sys.stderr)
        report, recorder = one_run(args, replace(config, students=count), utterances, stack, target)
        misses = gate.check(report)
        if report["counts"]["questions_unanswered"]:
            misses.append(f"{report['counts']['questions_unanswered']} questions unanswered")
        points.append(ramp_point(report, misses))
        write_outputs(report, recorder, args.out, f"{args.name}-{count}")
        if misses:
            break
    summary = ramp_summary(points)
    folder = args.out
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{args.name}-ramp.json").write_text(json.dumps(summary, indent=2))
    png = write_ramp_png(summary, folder / f"{args.name}-ramp.png")
    print(ramp_table(summary))
    print(f"wrote {folder / f'{args.name}-ramp.json'}, {png}")
    return EXIT_OK if summary["held_at_most"] else EXIT_SLO_MISSED


def write_outputs(report: dict[str, Any], recorder: Any, folder: Path, name: str) -> list[Path]:
    """Writes NAME.json and NAME.png into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / f"{name}.json"
    json_path.write_text(json.dumps(report, indent=2))
    png_path = write_png(report, recorder, folder / f"{name}.png")
    return [json_path, png_path]


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return run(parser().parse_args(argv))
