"""`make bench`: runs each benchmark (quick mode), then prints one summary table.

Each benchmark is `python -m benchmarks.<name> --quick` and writes bench-results/<name>.json
(the last, loadtest, is a short load test of the whole stack). This script prints their
headline numbers and collects everything into bench-results/summary.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench-results"
BENCHES = [
    "asr_svc",
    "llm_svc",
    "tutor_dialogue",
    "tts_svc",
    "lipsync_svc",
    "gateway",
    "gateway_overhead",
    "session_store",
    "rtc_edge",
    "browser_av_sync",
    "web_backend",
    "loadtest",
]


# The numbers worth a glance, by where each benchmark's JSON keeps them: a dotted path where
# `key[NAME]` picks the list item whose "name" is NAME. Every number stays in summary.json.
HEADLINES: list[tuple[str, str, str]] = [
    (
        "gateway_overhead",
        "gateway CPU per turn, 32 sessions, fake upstreams (ms)",
        "32.median.cpu_ms_per_turn",
    ),
    ("asr_svc", "pocketsphinx real-time factor", "engines[pocketsphinx].rtf"),
    (
        "asr_svc",
        "end of speech -> final p50, 1 stream (ms)",
        "engines[pocketsphinx].streams_1.end_of_speech_to_final_ms.p50",
    ),
    (
        "asr_svc",
        "end of speech -> final p95, 8 streams (ms)",
        "engines[pocketsphinx].streams_8.end_of_speech_to_final_ms.p95",
    ),
    (
        "asr_svc",
        "end of speech -> final p95, 16 streams (ms)",
        "engines[pocketsphinx].streams_16.end_of_speech_to_final_ms.p95",
    ),
    (
        "asr_svc",
        "smart turn: silence before end of turn p50, Piper (ms)",
        "end_of_turn.audio_clock.smart_turn/piper.p50",
    ),
    (
        "asr_svc",
        "smart turn: 700 ms thinking pauses cut, espeak (of 8)",
        "end_of_turn.smart_turn.espeak.thinking_pause.cut_in_two",
    ),
    (
        "asr_svc",
        "onset -> SPEECH_STARTED p50, 1 stream (ms)",
        "engines[pocketsphinx].streams_1.onset_to_speech_started_ms.p50",
    ),
    (
        "asr_svc",
        "on-topic WER, tutor model, held-out questions, clean",
        "tutor_model.held_out.clean.tutor_on",
    ),
    (
        "asr_svc",
        "on-topic WER, tutor model, held-out, 20 dB white noise",
        "tutor_model.held_out.white.tutor_on",
    ),
    (
        "asr_svc",
        "on-topic WER, general model, held-out, clean",
        "tutor_model.held_out.clean.general_on",
    ),
    (
        "asr_svc",
        "off-topic WER, tutor model, held-out, clean",
        "tutor_model.held_out.clean.tutor_off",
    ),
    (
        "asr_svc",
        "off-topic WER, general model, held-out, clean",
        "tutor_model.held_out.clean.general_off",
    ),
    (
        "asr_svc",
        "tutor model real-time factor (CPU time)",
        "tutor_model.held_out.clean.tutor_rtf_cpu",
    ),
    (
        "asr_svc",
        "tutor model build, 50 pages (s)",
        "tutor_model.build_50_pages.model_and_decoder_s",
    ),
    (
        "llm_svc",
        "added time to first token p50, 1 stream (ms)",
        "overhead[overhead-1].ttft_ms_p50_added",
    ),
    (
        "llm_svc",
        "added time to first token p95, 16 streams (ms)",
        "overhead[overhead-16].ttft_ms_p95_added",
    ),
    (
        "tutor_dialogue",
        "answers from the right passage, held-out dialogues",
        "held_out.right_passage_share",
    ),
    ("tutor_dialogue", "mean answer length, held-out (words)", "held_out.mean_answer_words"),
    (
        "tutor_dialogue",
        "retrieval first token p50, demo questions (ms)",
        "first_token.demo_questions.p50_ms",
    ),
    (
        "tts_svc",
        "first clause -> first audio p50, 1 stream (ms)",
        "levels[1_streams].first_clause_p50_ms",
    ),
    (
        "tts_svc",
        "first clause -> first audio p95, 16 streams (ms)",
        "levels[16_streams].first_clause_p95_ms",
    ),
    ("tts_svc", "real-time factor per stream", "levels[1_streams].rtf_per_stream"),
    ("tts_svc", "piper real-time factor, one core (CPU time)", "engines[piper].cpu_rtf_one_core"),
    ("tts_svc", "espeak real-time factor, one core (CPU time)", "engines[espeak].cpu_rtf_one_core"),
    ("lipsync_svc", "procedural frames/s, 256 px", "engine_fps[procedural-drawn-256px].fps"),
    ("lipsync_svc", "procedural frames/s, 512 px", "engine_fps[procedural-drawn-512px].fps"),
    (
        "lipsync_svc",
        "procedural frames per CPU-second, real face, 256 px",
        "engine_fps[procedural-video-256px].fps_cpu",
    ),
    ("lipsync_svc", "avatar from a 10 s 720p video (s)", "avatar_creation.seconds"),
    ("lipsync_svc", "wav2lip frames/s, 256 px", "engine_fps[wav2lip-drawn-256px].fps"),
    (
        "lipsync_svc",
        "procedural 25 fps streams sustained, 256 px",
        "concurrency[procedural-drawn-256px].sustained_streams",
    ),
    ("gateway", "end of speech -> first audio p50 (ms)", "spoken.eos_to_first_audio_ms.p50"),
    ("gateway", "end of speech -> first frame p95 (ms)", "spoken.eos_to_first_frame_ms.p95"),
    ("gateway", "interrupt -> interrupted event p50 (ms)", "spoken.interrupt_to_event_ms.p50"),
    (
        "gateway",
        "overhead per turn p95, 32 sessions (ms)",
        "overhead_by_sessions.32.gateway_overhead_ms.p95",
    ),
    ("session_store", "append a turn p95, SQLite (ms)", "sqlite.append_turn_ms.p95"),
    (
        "session_store",
        "resume 20 turns after restart p50, Redis (ms)",
        "redis.resume_20_turns_ms.p50",
    ),
    (
        "rtc_edge",
        "end of speech -> first frame via TURN p50 (ms)",
        "end_of_speech_to_first_frame_ms.p50",
    ),
    ("rtc_edge", "edge cores per connected peer", "cpu.cores_per_peer"),
    ("browser_av_sync", "Chromium A/V onset offset |p95| (ms)", "av_onset_offset_abs_ms.p95"),
    (
        "web_backend",
        "/health p99 during an 80,000-page PDF upload (ms)",
        "pages_80000.health_during_upload_ms.p99",
    ),
    (
        "web_backend",
        "/health p99 during a PDF that hits the time limit (ms)",
        "dense_page.health_during_upload_ms.p99",
    ),
    ("loadtest", "end of speech -> first frame p50 (ms)", "latency_ms.eos_to_first_frame.p50"),
    ("loadtest", "end of speech -> first frame p95 (ms)", "latency_ms.eos_to_first_frame.p95"),
    ("loadtest", "barge-in stop p50 (ms)", "latency_ms.barge_in_stop.p50"),
    ("loadtest", "error rate", "error_rate"),
]


def _lookup(results: Any, path: str) -> float | None:
    """The number at ``path`` in a benchmark's results, or None where it is missing."""
    value = results
    for part in path.split("."):
        key, _, name = part.partition("[")
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
        if name:
            wanted = name.rstrip("]")
            items = [i for i in value if isinstance(i, dict) and i.get("name") == wanted]
            if not items:
                return None
            value = items[0]
    return float(value) if isinstance(value, int | float) else None


def main() -> int:
    RESULTS.mkdir(exist_ok=True)
    summary: dict[str, Any] = {}
    failed = []
    for package in BENCHES:
        if not (ROOT / "benchmarks" / f"{package}.py").exists():
            continue
        print(f"== {package} ==", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, "-m", f"benchmarks.{package}", "--quick"], cwd=ROOT)
        elapsed = time.monotonic() - started
        result_file = RESULTS / f"{package}.json"
        if code != 0 or not result_file.exists():
            failed.append(package)
            summary[package] = {"error": f"exit {code}"}
            continue
        summary[package] = {
            "seconds": round(elapsed, 1),
            "results": json.loads(result_file.read_text()),
        }
    headlines = []
    print("\n== summary ==")
    for package, label, path in HEADLINES:
        results = summary.get(package, {}).get("results")
        if results is None:
            continue
        number = _lookup(results, path)
        headlines.append({"benchmark": package, "measure": label, "value": number})
        shown = "missing" if number is None else f"{number:,.3f}"
        print(f"{package:<12} {label:<52} {shown:>12}")
    (RESULTS / "summary.json").write_text(
        json.dumps({"headlines": headlines, "benchmarks": summary}, indent=2)
    )
    print(f"\nwritten: {RESULTS / 'summary.json'}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
