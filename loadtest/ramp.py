"""Ramp mode: one run per student count, up to the count at which the SLO breaks.

The default SLO is the product's promise for a live call: end of speech -> first frame p95
<= 800 ms (first audio without video), answers shown at >= 24 fps (median), and no question
left unanswered. The summary names the largest count that held it, with each count's latency,
frame rate and CPU per service.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from loadtest.config import LoadTestConfig
from loadtest.slo import Slo

FIRST_FRAME_P95_MS = 800.0
MIN_FPS = 24.0


def default_ramp_slo(config: LoadTestConfig) -> Slo:
    """The live-call SLO for this run's mode."""
    first = "eos_to_first_frame" if config.video else "eos_to_first_audio"
    return Slo(
        stages={first: {"p95": FIRST_FRAME_P95_MS}},
        min_frame_rate_fps=MIN_FPS if config.video else None,
    )


def ramp_point(report: dict[str, Any], misses: list[str]) -> dict[str, Any]:
    """One count's headline numbers."""
    latency = report["latency_ms"]
    cpu = report.get("cpu", {})
    return {
        "students": report["counts"]["students"],
        "held": not misses,
        "misses": misses,
        "eos_to_first_frame_ms": latency.get("eos_to_first_frame", {}),
        "eos_to_first_audio_ms": latency.get("eos_to_first_audio", {}),
        "frame_rate_fps": report["frame_rate_fps"],
        "av_onset_offset_ms": latency.get("av_onset_offset", {}),
        "questions": report["counts"]["questions_asked"],
        "unanswered": report["counts"]["questions_unanswered"],
        "cores_per_listening_student": cpu.get("cores_per_listening_student", {}),
        "cores_per_active_student": cpu.get("cores_per_active_student", {}),
        "run_cores": cpu.get("phases", {}).get("run", {}).get("cores", {}),
    }


def ramp_summary(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The ramp: each count, the largest that held, the first that broke."""
    held = [p["students"] for p in points if p["held"]]
    broke = next((p for p in points if not p["held"]), None)
    return {
        "held_at_most": max(held) if held else 0,
        "broke_at": broke["students"] if broke else None,
        "broke_because": broke["misses"] if broke else [],
        "points": points,
    }


def ramp_table(summary: dict[str, Any]) -> str:
    """The ramp as text."""
    lines = [
        f"{'students':>8} {'first frame p50':>16} {'p95':>8} {'fps p50':>8} {'A/V p95':>8} "
        f"{'unanswered':>10}  held"
    ]
    for p in summary["points"]:
        first = p["eos_to_first_frame_ms"] or p["eos_to_first_audio_ms"]
        lines.append(
            f"{p['students']:>8} {first.get('p50', '-'):>16} {first.get('p95', '-'):>8} "
            f"{p['frame_rate_fps'].get('p50', '-'):>8} "
            f"{p['av_onset_offset_ms'].get('p95', '-'):>8} "
            f"{p['unanswered']:>10}  {'yes' if p['held'] else 'NO: ' + '; '.join(p['misses'])}"
        )
    lines.append(
        f"SLO held up to {summary['held_at_most']} students"
        + (f"; broke at {summary['broke_at']}" if summary["broke_at"] else "")
    )
    return "\n".join(lines)


def write_ramp_png(summary: dict[str, Any], path: Path) -> Path:
    """Latency, frame rate and CPU per service against the number of students."""
    points = summary["points"]
    counts = [p["students"] for p in points]
    figure, (top, middle, bottom) = plt.subplots(3, 1, figsize=(9, 10), sharex=True)
    for key, label in (("p50", "p50"), ("p95", "p95")):
        values = [
            (p["eos_to_first_frame_ms"] or p["eos_to_first_audio_ms"]).get(key) for p in points
        ]
        top.plot(counts, values, marker="o", label=f"end of speech -> first frame {label}")
    top.axhline(FIRST_FRAME_P95_MS, color="red", linestyle=":", label="SLO p95")
    top.set_ylabel("ms")
    top.legend()
    top.grid(alpha=0.3)
    middle.plot(
        counts, [p["frame_rate_fps"].get("p50") for p in points], marker="o", label="fps p50"
    )
    middle.axhline(MIN_FPS, color="red", linestyle=":", label="SLO")
    middle.set_ylabel("fps")
    middle.legend()
    middle.grid(alpha=0.3)
    services = sorted({name for p in points for name in p["run_cores"]})
    for name in services:
        bottom.plot(counts, [p["run_cores"].get(name) for p in points], marker="o", label=name)
    bottom.set_ylabel("cores during the run")
    bottom.set_xlabel("students")
    bottom.legend(fontsize=8)
    bottom.grid(alpha=0.3)
    held = summary["held_at_most"]
    figure.suptitle(f"ramp: SLO held up to {held} students")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
