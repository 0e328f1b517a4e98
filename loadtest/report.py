"""The run's report: percentiles per stage, media, barge-in, counts, errors; JSON and a table."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from loadtest.config import LoadTestConfig
from loadtest.recorder import Recorder
from loadtest.samples import CLIENT_STAGES, TurnSample

PERCENTILES = (50, 90, 95, 99)
TIMELINE_BUCKET_S = 1.0


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p90, p95, p99, max, mean and n of ``values`` (empty: n 0 only)."""
    if not values:
        return {"n": 0}
    array = np.asarray(values, dtype=float)
    out: dict[str, float] = {f"p{p}": round(float(np.percentile(array, p)), 2) for p in PERCENTILES}
    out["max"] = round(float(array.max()), 2)
    out["mean"] = round(float(array.mean()), 2)
    out["n"] = len(values)
    return out


def collect_values(samples: list[TurnSample]) -> dict[str, list[float]]:
    """Every distribution, by name (latencies in ms, frame rate in fps)."""
    values: dict[str, list[float]] = {name: [] for name in CLIENT_STAGES}
    for sample in samples:
        for name, ms in sample.client_ms().items():
            values[name].append(ms)
        for name, ms in sample.gateway_ms.items():
            values.setdefault(f"gateway.{name}", []).append(ms)
        for name, ms in sample.hop_ms().items():
            values.setdefault(name, []).append(ms)
        if sample.final_transcript_at is not None and sample.first_frame_at is not None:
            # What follows recognition (LLM, TTS, lip-sync, media path), without the
            # recognizer's end-of-turn wait: the stack's share under load.
            values.setdefault("final_transcript_to_first_frame", []).append(
                (sample.first_frame_at - sample.final_transcript_at) * 1000
            )
        for name, ms in sample.barge_in_ms().items():
            values.setdefault(name, []).append(ms)
        gap = sample.media.max_gap_ms()
        if gap is not None:
            values.setdefault("max_frame_gap", []).append(gap)
        if sample.media.av_offsets_ms:
            values.setdefault("av_offset", []).append(max(sample.media.av_offsets_ms))
        if sample.stalled_ms is not None:
            values.setdefault("playout_stall", []).append(sample.stalled_ms)
        if sample.av_onset_ms is not None:
            values.setdefault("av_onset_offset", []).append(sample.av_onset_ms)
            values.setdefault("av_onset_offset_abs", []).append(abs(sample.av_onset_ms))
        if sample.av_onset_arrival_ms is not None:
            values.setdefault("av_onset_offset_arrival", []).append(sample.av_onset_arrival_ms)
        fps = sample.media.frame_rate_fps()
        if fps is not None:
            values.setdefault("frame_rate_fps", []).append(fps)
    return values


def frame_rate_timeline(
    samples: list[TurnSample], origin: float, fps: int
) -> list[dict[str, float]]:
    """Frames shown per second of answer playing, in 1 s buckets since ``origin``.

    Each answer covers [first frame, last frame + one frame interval]; a bucket's rate is its
    frames over the answer time it covers, so answers starting or ending inside a bucket do
    not read as a drop. ``streams`` is the mean number of answers playing in the bucket.
    """
    frames: Counter[int] = Counter()
    covered: dict[int, float] = {}
    for sample in samples:
        shown = sample.media.display_times()
        if not shown:
            continue
        for at in shown:
            frames[int((at - origin) // TIMELINE_BUCKET_S)] += 1
        start, stop = shown[0] - origin, shown[-1] - origin + 1 / fps
        bucket = int(start // TIMELINE_BUCKET_S)
        while bucket * TIMELINE_BUCKET_S < stop:
            low = max(start, bucket * TIMELINE_BUCKET_S)
            high = min(stop, (bucket + 1) * TIMELINE_BUCKET_S)
            covered[bucket] = covered.get(bucket, 0.0) + max(high - low, 0.0)
            bucket += 1
    return [
        {
            "t_s": bucket * TIMELINE_BUCKET_S,
            "fps_per_stream": round(frames[bucket] / covered[bucket], 2),
            "streams": round(covered[bucket] / TIMELINE_BUCKET_S, 2),
        }
        for bucket in sorted(covered)
        if covered[bucket] > 0.05  # a sliver of an answer says nothing about its rate
    ]


def build_report(
    config: LoadTestConfig, recorder: Recorder, *, target: dict[str, str]
) -> dict[str, Any]:
    """The whole report as JSON-ready data."""
    asked = recorder.asked
    outcomes = Counter(s.outcome for s in recorder.samples)
    errors = sum(recorder.errors.values())
    values = collect_values(recorder.samples)
    distributions = {name: percentiles(v) for name, v in values.items()}
    return {
        "config": {**vars(config)},
        "target": target,
        "clocks": {
            "client": "eos_to_*: time.monotonic() on the load tester, from the moment the last "
            "sample of the question was sent to the moment the response arrived",
            "gateway": "gateway.eos_to_*: the turn's TurnTimings on the gateway's stream clock "
            "(over WebRTC, as the edge passes them on in the ended turn's message)",
            "origin_monotonic": "times in turns (*_s) are seconds after origin_monotonic, "
            "time.monotonic() of this host: one clock for every process here, so service logs "
            "stamped with it line up with the turns",
            "frames": "frame rate and gaps: frames shown by a player that starts at the first "
            "frame's arrival and shows each at its pts, or later if it arrives late (WebRTC: "
            "decoded frames as they arrive)",
            "playout_stall": "WebRTC: how long each answer paused mid-way at the edge because "
            "its media came after they were due (the edge's stalled_ms)",
        },
        "origin_monotonic": round(recorder.origin, 4),
        "run_seconds": round((recorder.finished or recorder.origin) - recorder.origin, 2),
        "counts": {
            "students": config.students,
            "sessions_created": recorder.sessions_created,
            "questions_asked": len(asked),
            "turns_started": sum(1 for s in recorder.samples if s.turn_id),
            "unexpected_turns": recorder.unexpected_turns,
            **{f"turns_{name}": outcomes.get(name, 0) for name in ("completed", "interrupted")},
            "turns_failed": outcomes.get("failed", 0),
            "questions_unanswered": sum(1 for s in asked if s.outcome == "unanswered"),
            "barge_ins": sum(1 for s in recorder.samples if s.barge_in_at is not None),
        },
        "errors": {
            "total": errors,
            "rate": round(errors / max(len(asked), 1), 4),
            "by_status": dict(sorted(recorder.errors.items())),
        },
        "latency_ms": {k: v for k, v in distributions.items() if k != "frame_rate_fps"},
        "frame_rate_fps": distributions.get("frame_rate_fps", {"n": 0}),
        "timeline": frame_rate_timeline(recorder.samples, recorder.origin, config.fps),
        "turns": [s.to_json(recorder.origin) for s in recorder.samples],
    }


def summary_table(report: dict[str, Any]) -> str:
    """The report's headline numbers as a text table."""
    lines = []
    counts = report["counts"]
    lines.append(
        f"students {counts['students']}  asked {counts['questions_asked']}  "
        f"completed {counts['turns_completed']}  interrupted {counts['turns_interrupted']}  "
        f"failed {counts['turns_failed']}  unanswered {counts['questions_unanswered']}  "
        f"errors {report['errors']['total']} {report['errors']['by_status'] or ''}"
    )
    header = f"{'stage (ms)':<34}" + "".join(
        f"{k:>9}" for k in ("p50", "p90", "p95", "p99", "max", "n")
    )
    lines.append(header)
    rows = dict(report["latency_ms"])
    rows["frame_rate_fps (fps)"] = report["frame_rate_fps"]
    for name, stats in rows.items():
        cells = "".join(
            f"{_cell(stats.get(k)):>9}" for k in ("p50", "p90", "p95", "p99", "max", "n")
        )
        lines.append(f"{name:<34}{cells}")
    if "speculations" in report:
        # Answers prepared from an interim transcript: discarded ones are work thrown away.
        counted = report["speculations"]
        lines.append(
            f"speculative answers: committed {counted['committed']}  "
            f"discarded {counted['discarded']}"
        )
    if "cpu" in report:
        lines.append(cpu_table(report["cpu"]))
    return "\n".join(lines)


def cpu_table(cpu: dict[str, Any]) -> str:
    """CPU by process group: cores in each phase, and per listening and per active student."""
    phases = cpu.get("phases", {})
    names = list(phases.get("run", phases.get("listening", {})).get("cores", {}))
    listening = cpu.get("cores_per_listening_student", {})
    active = cpu.get("cores_per_active_student", {})
    header = ["listening", "run", "/listener", "/active"]
    lines = [f"{'cpu (cores)':<34}" + "".join(f"{h:>11}" for h in header)]

    def cores(phase: str, name: str) -> object:
        return phases.get(phase, {}).get("cores", {}).get(name)

    for name in names:
        cells = [
            cores("listening", name),
            cores("run", name),
            listening.get(name),
            active.get(name),
        ]
        if name not in listening:  # the harness: its own cost per listening student
            cells[2] = cpu.get("harness_cores_per_listening_student")
        lines.append(f"{name:<34}" + "".join(f"{_cores(c):>11}" for c in cells))
    totals = [
        None,
        None,
        cpu.get("cores_per_listening_student_total"),
        cpu.get("cores_per_active_student_total"),
    ]
    lines.append(f"{'stack total per student':<34}" + "".join(f"{_cores(c):>11}" for c in totals))
    return "\n".join(lines)


def _cores(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.1f}"
    return str(value)
