"""``python -m benchmarks.loadtest [--quick]``: a short load test on a spawned stack (make bench).

Runs ``python -m loadtest --spawn-stack`` (gRPC, video, one barge-in per student) and writes
the compact numbers to bench-results/loadtest.json (the full report, per-turn samples and the
picture go to bench-results/loadtest/).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from loadtest.cli import main as loadtest_main
from loadtest.samples import CLIENT_STAGES as STAGES

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results"


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of a full report (what ``make bench`` tabulates)."""
    latency = report["latency_ms"]
    keep = [
        *STAGES,
        *(f"gateway.{s}" for s in STAGES),
        "barge_in_stop",
        "barge_in_last_media",
        "max_frame_gap",
        "av_onset_offset",
        "av_onset_offset_abs",
    ]
    cpu = report.get("cpu", {})
    return {
        "name": "loadtest",
        "mode": report["config"]["mode"],
        "students": report["config"]["students"],
        "duration_s": report["config"]["duration_s"],
        "counts": report["counts"],
        "error_rate": report["errors"]["rate"],
        "latency_ms": {
            name: {k: latency[name][k] for k in ("p50", "p95", "max", "n") if k in latency[name]}
            for name in keep
            if name in latency
        },
        "frame_rate_fps_p50": report["frame_rate_fps"].get("p50"),
        "cpu": {
            key: cpu[key]
            for key in (
                "cores_per_listening_student",
                "cores_per_listening_student_total",
                "cores_per_active_student",
                "cores_per_active_student_total",
                "active_students_mean",
            )
            if key in cpu
        },
        "report": f"bench-results/loadtest/{report.get('name', 'loadtest')}.json",
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the load test's exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.loadtest", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 students for 15 s (else 4, 30 s)")
    parser.add_argument("--webrtc", action="store_true", help="light WebRTC students, CPU split")
    args = parser.parse_args(argv)
    folder = RESULTS / "loadtest"
    if args.webrtc:
        name = "loadtest-webrtc"
        students = "4" if args.quick else "10"
        extra = [
            "--mode", "webrtc",
            "--student-processes", "2",
            "--listen", "5",
            "--max-turns", "2" if args.quick else "3",
            "--duration", "20" if args.quick else "40",
            "--ramp-up", "4",
            "--think-time", "2",
        ]  # fmt: skip
    else:
        name = "loadtest"
        students, duration = ("2", "15") if args.quick else ("4", "30")
        extra = [
            "--duration", duration,
            "--ramp-up", "2",
            "--think-time", "1",
            "--barge-in-every", "1" if args.quick else "2",
        ]  # fmt: skip
    status = loadtest_main(
        [
            "--spawn-stack",
            "--students", students,
            *extra,
            "--out", str(folder),
            "--name", name,
            "--progress-interval", "5",
        ]
    )  # fmt: skip
    report_path = folder / f"{name}.json"
    if status != 0 or not report_path.exists():
        return status or 1
    report = json.loads(report_path.read_text())
    report["name"] = name
    result = summary(report)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {RESULTS / f'{name}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
