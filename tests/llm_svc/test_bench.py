"""`python -m benchmarks.llm_svc` runs end to end (tiny settings) and writes its report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def test_bench_measures_both_paths_and_writes_json(tmp_path):
    output = tmp_path / "llm_svc.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_")}
    subprocess.run(
        [sys.executable, "-m", "benchmarks.llm_svc", "--tokens", "20", "--rounds", "1",
         "--streams", "1,3", "--output", str(output)],
        cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, check=True, timeout=120,
        capture_output=True,
    )  # fmt: skip
    report = json.loads(output.read_text())
    names = [r["name"] for r in report["results"]]
    assert names == ["direct-1", "service-1", "direct-3", "service-3"]
    for result in report["results"]:
        # Every stream got the whole reply, whichever way it went.
        assert result["tokens_per_stream"] == 20
        assert result["ttft_ms_p50"] > 0
        assert result["tokens_per_s_total"] > 0
    assert [o["name"] for o in report["overhead"]] == ["overhead-1", "overhead-3"]


def test_tutor_dialogue_bench_reports_both_halves_and_the_calibration(tmp_path):
    output = tmp_path / "tutor_dialogue.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_")}
    subprocess.run(
        [sys.executable, "-m", "benchmarks.tutor_dialogue", "--rounds", "1",
         "--output", str(output)],
        cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, check=True, timeout=120,
        capture_output=True,
    )  # fmt: skip
    report = json.loads(output.read_text())
    for half in ("tuning", "held_out"):
        assert report[half]["answers"] > 5
        assert 0 <= report[half]["right_passage_share"] <= 1
        assert 5 < report[half]["mean_answer_words"] <= 60
    assert report["first_token"]["demo_questions"]["n"] == 5 * 9
    assert report["first_token"]["demo_questions"]["p50_ms"] > 0
    calibration = report["calibration"]
    assert calibration["suite"]["on_topic_min"] >= calibration["threshold"]
    assert calibration["suite"]["off_topic_max"] < calibration["threshold"]
