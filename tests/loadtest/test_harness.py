"""``python -m loadtest`` against the real stack it spawns: a few seconds of two students.

One run serves every check (the stack takes a while to start): it is given an SLO with an
impossible threshold next to lenient ones, so it must exit 1 naming only the impossible one,
and still write a complete report and picture.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from loadtest.samples import CLIENT_STAGES
from tests.support.service_process import REPO_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SLO = """
stages:
  eos_to_first_frame: {p50: 1}       # impossible: one millisecond
  eos_to_final_transcript: {max: 600000}
error_rate: 1.0
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    folder = tmp_path_factory.mktemp("loadtest")
    slo = folder / "slo.yaml"
    slo.write_text(SLO)
    result = subprocess.run(
        [
            sys.executable, "-m", "loadtest", "--spawn-stack",
            # Two questions per student, whatever the machine's speed: --max-turns bounds the
            # run by count; the duration only caps it.
            "--students", "2", "--ramp-up", "1", "--duration", "60", "--max-turns", "2",
            "--think-time", "1",
            # Each student's first answer is interrupted by its second question.
            "--barge-in-every", "1", "--barge-in-after", "0.8",
            "--video-size", "64",
            "--slo", str(slo), "--out", str(folder), "--name", "run",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )  # fmt: skip
    return result, folder


@pytest.fixture(scope="module")
def report(run: tuple[subprocess.CompletedProcess[str], Path]) -> dict[str, Any]:
    result, folder = run
    path = folder / "run.json"
    assert path.exists(), result.stdout + result.stderr
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_an_impossible_slo_exits_nonzero_naming_the_miss(run, report) -> None:
    result, _ = run
    assert result.returncode == 1, result.stdout + result.stderr
    assert report["slo"]["passed"] is False
    assert [m.split(":")[0] for m in report["slo"]["misses"]] == ["eos_to_first_frame p50"]
    assert "MISSED" in result.stdout


def test_turn_counts_match_what_was_sent(report) -> None:
    counts = report["counts"]
    assert counts["questions_asked"] == 4  # two per student: a question and its interruption
    assert counts["turns_started"] == counts["questions_asked"]
    assert counts["unexpected_turns"] == 0
    assert counts["questions_unanswered"] == 0
    assert counts["turns_interrupted"] == counts["barge_ins"] == 2
    assert counts["turns_completed"] + counts["turns_interrupted"] == counts["questions_asked"]
    assert report["errors"]["total"] == 0, report["errors"]


def test_every_stage_is_measured_for_every_turn(report) -> None:
    latency = report["latency_ms"]
    for stage in CLIENT_STAGES:
        assert latency[stage]["n"] == 4, stage
        assert latency[f"gateway.{stage}"]["n"] == 4, stage
        assert set(latency[stage]) >= {"p50", "p90", "p95", "p99", "max"}
    assert latency["barge_in_stop"]["n"] == 2
    assert latency["av_offset"]["max"] == 0  # each frame carries exactly its own audio
    assert report["frame_rate_fps"]["n"] == 4


def test_stage_times_are_in_pipeline_order(report) -> None:
    for turn in report["turns"]:
        for clock in ("client_ms", "gateway_ms"):
            times = [turn[clock][stage] for stage in CLIENT_STAGES]
            assert all(t > 0 for t in times), (clock, turn)
            assert times == sorted(times), (clock, turn)
        if turn["barge_in_ms"]:
            assert turn["outcome"] == "interrupted"
            assert turn["barge_in_ms"]["barge_in_stop"] > 0


def test_speculative_answers_are_counted_by_the_spawned_gateway(report) -> None:
    # Read from the gateway's own counters; each committed one became one of the turns.
    counted = report["speculations"]
    assert set(counted) == {"committed", "discarded"}
    assert all(isinstance(n, int) and n >= 0 for n in counted.values())
    assert counted["committed"] <= report["counts"]["turns_started"]


def test_a_picture_is_written(run) -> None:
    _, folder = run
    png = (folder / "run.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 20_000  # two panels with data, not an empty canvas


def test_cpu_is_reported_per_service_and_per_student(report) -> None:
    cpu = report["cpu"]
    assert set(cpu["phases"]) == {"baseline", "listening", "run"}
    run = cpu["phases"]["run"]["cores"]
    assert {"asr_svc", "llm_svc", "tts_svc", "lipsync_svc", "gateway"} <= set(run)
    assert run["gateway"] > 0 and run["loadtest (students)"] > 0
    # The students' own CPU is kept out of what a student costs the stack.
    assert "loadtest (students)" not in cpu["cores_per_listening_student"]
    assert "loadtest (students)" not in cpu["cores_per_active_student"]
    assert cpu["active_students_mean"] > 0


@pytest.fixture(scope="module")
def webrtc_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two light WebRTC students, in a process of their own, one question each."""
    folder = tmp_path_factory.mktemp("webrtc")
    result = subprocess.run(
        [
            sys.executable, "-m", "loadtest", "--spawn-stack", "--mode", "webrtc",
            "--students", "2", "--student-processes", "1", "--ramp-up", "1",
            "--duration", "60", "--max-turns", "1", "--listen", "2", "--video-size", "96",
            "--out", str(folder), "--name", "webrtc",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )  # fmt: skip
    path = folder / "webrtc.json"
    assert result.returncode == 0 and path.exists(), result.stdout + result.stderr
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_light_webrtc_students_measure_frames_and_av_onset_from_rtp(webrtc_report) -> None:
    # Measured, not judged: this machine's speed is no test's business (benchmarks judge).
    counts = webrtc_report["counts"]
    assert counts["questions_asked"] == 2 and counts["questions_unanswered"] == 0
    latency = webrtc_report["latency_ms"]
    assert latency["eos_to_first_frame"]["n"] == 2
    # Frames counted from RTP and shown at their RTP timestamps: never faster than the edge
    # sends them (25 fps), which a misread RTP clock would be.
    assert webrtc_report["frame_rate_fps"]["n"] == 2
    assert 0 < webrtc_report["frame_rate_fps"]["max"] <= 26
    for turn in webrtc_report["turns"]:
        assert turn["frames"] >= 10
        # Sound and picture placed on the sender's clock (RTCP sender reports) and by arrival.
        assert turn["av_onset_ms"] is not None and turn["av_onset_arrival_ms"] is not None
    cpu = webrtc_report["cpu"]
    assert cpu["cores_per_listening_student"]["rtc_edge"] > 0
    assert cpu["phases"]["run"]["cores"]["loadtest (students)"] > 0  # the worker, measured
