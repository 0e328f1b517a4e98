"""The run as a picture: latency distributions per stage, and frame rate over time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt

from loadtest.recorder import Recorder
from loadtest.report import collect_values


def write_png(report: dict[str, Any], recorder: Recorder, path: Path) -> Path:
    """Draws the report to ``path`` (PNG)."""
    values = collect_values(recorder.samples)
    latencies = {k: v for k, v in values.items() if v and k != "frame_rate_fps"}
    figure, (top, bottom) = plt.subplots(
        2, 1, figsize=(11, 9), gridspec_kw={"height_ratios": [3, 2]}
    )
    names = list(latencies)
    if names:
        top.boxplot([latencies[n] for n in names], vert=False, whis=(5, 95), showfliers=True)
        top.set_yticks(range(1, len(names) + 1), names)
        for row, name in enumerate(names, start=1):
            points = latencies[name]
            top.scatter(points, [row] * len(points), s=8, alpha=0.4, color="tab:blue")
    top.set_xlabel("ms (box: p25-p75, whiskers p5-p95)")
    counts = report["counts"]
    top.set_title(
        f"{report['config']['mode']}: {counts['students']} students, "
        f"{counts['questions_asked']} questions, {report['errors']['total']} errors"
    )
    top.grid(axis="x", alpha=0.3)
    timeline = report["timeline"]
    if timeline:
        times = [p["t_s"] for p in timeline]
        bottom.plot(times, [p["fps_per_stream"] for p in timeline], label="fps per answer shown")
        bottom.plot(times, [p["streams"] for p in timeline], label="answers playing", alpha=0.6)
        bottom.legend(loc="lower right")
    bottom.axhline(report["config"]["fps"], color="grey", linestyle=":", linewidth=1)
    bottom.set_xlabel("s since the start of the run")
    bottom.set_ylabel("frames per second")
    bottom.set_title("frame rate over time")
    bottom.grid(alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path
