"""``python -m benchmarks.asr_svc``: real-time factor and latencies of the ASR service per engine.

For each engine it starts the service in-process on a free port and, over gRPC:
- real-time factor: one stream of espeak-ng speech sent as fast as the service takes it;
- latencies with 1, 4, 8 and 16 concurrent streams sent in real time (20 ms chunks on a clock):
  end of speech -> final result (includes the endpointer's min_silence wait), SPEECH_ENDED ->
  final (the decode), and speech onset -> SPEECH_STARTED (what barge-in waits for).

Then the recognition accuracy of tutors' own language models (``benchmarks.asr_accuracy``:
word error rate on spoken questions about tutors' documents, clean and at 20 dB SNR,
against the general model; real-time factor; the time to build a model from 50 pages).

Then end of turn (``benchmarks.asr_end_of_turn``): smart turn against the silence rule on
complete questions and on questions with a 700 ms thinking pause, and smart turn under load.

faster-whisper uses ``ASR_MODEL`` when it is set; otherwise a tiny random-weight model is built
(needs the dev extra), which times the pipeline, not a real model. Prints a table and writes
``bench-results/asr_svc.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from vtutor.asr.v1 import asr_pb2, asr_pb2_grpc
from vtutor.common.v1 import media_pb2

from asr_svc.config import AsrSettings
from asr_svc.recognizer import Recognizer
from asr_svc.server import build_service
from benchmarks.asr_accuracy import bench_accuracy, print_accuracy
from benchmarks.asr_end_of_turn import bench_end_of_turn, print_end_of_turn
from svc_core.audio import espeak_samples, float_to_pcm16
from svc_core.server import GrpcServer

RATE = 16000
CHUNK_MS = 20
SENTENCES = [
    ("what is two plus two", "en-us", 160),
    ("the capital of france is paris", "en-gb", 180),
    ("photosynthesis turns light into energy", "en-us", 150),
    ("seven times eight is fifty six", "en-gb", 170),
]
RESULTS = Path("bench-results") / "asr_svc.json"
# Concurrent real-time streams: end of speech -> final p95 against load (issue 20, item 4).
STREAM_COUNTS = (1, 4, 8, 16)


@dataclass
class Speech:
    """Sentences separated by silence, and where each one's speech starts and ends (ms)."""

    pcm: bytes
    spans: list[tuple[int, int]] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return len(self.pcm) / (2 * RATE)


def make_speech(count: int, *, shift: int = 0, gap_ms: int = 1000) -> Speech:
    """``count`` sentences (rotated by ``shift``) with a faint noise floor."""
    parts: list[np.ndarray] = [np.zeros(RATE * 400 // 1000, dtype=np.float32)]
    spans = []
    position = len(parts[0])
    for index in range(count):
        text, voice, wpm = SENTENCES[(index + shift) % len(SENTENCES)]
        samples = espeak_samples(text, voice=voice, words_per_minute=wpm, sample_rate=RATE)
        loud = np.flatnonzero(np.abs(samples) > 600 / 32768)
        spans.append(
            ((position + loud[0]) * 1000 // RATE, (position + loud[-1] + 1) * 1000 // RATE)
        )
        gap = np.zeros(RATE * gap_ms // 1000, dtype=np.float32)
        parts += [samples, gap]
        position += len(samples) + len(gap)
    audio = np.concatenate(parts)
    audio += np.random.default_rng(shift).normal(0, 0.001, len(audio)).astype(np.float32)
    return Speech(float_to_pcm16(audio), spans)


def _config() -> asr_pb2.StreamingRecognizeRequest:
    return asr_pb2.StreamingRecognizeRequest(
        config=asr_pb2.RecognitionConfig(
            audio_format=media_pb2.AudioFormat(
                encoding=media_pb2.AUDIO_ENCODING_PCM_S16LE, sample_rate_hz=RATE, channels=1
            ),
            language_code="en-US",
            phrase_hints=[text for text, _, _ in SENTENCES],
        )
    )


async def _stream(address: str, speech: Speech, *, realtime: bool) -> dict[str, list[float]]:
    """Sends ``speech``; returns latencies in ms (real time) or the wall time (as fast)."""
    chunk = 2 * RATE * CHUNK_MS // 1000
    pieces = [speech.pcm[i : i + chunk] for i in range(0, len(speech.pcm), chunk)]
    async with grpc.aio.insecure_channel(address) as channel:
        call = asr_pb2_grpc.AsrServiceStub(channel).StreamingRecognize()
        start = time.perf_counter()

        async def send() -> None:
            await call.write(_config())
            for index, piece in enumerate(pieces):
                if realtime:
                    # On a clock: chunk i leaves when its audio would have been captured.
                    delay = start + (index + 1) * CHUNK_MS / 1000 - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                await call.write(asr_pb2.StreamingRecognizeRequest(audio=piece))
            await call.done_writing()

        sender = asyncio.create_task(send())
        started: dict[int, float] = {}
        ended: dict[int, float] = {}
        finals: dict[int, float] = {}
        async for response in call:
            now = time.perf_counter() - start
            if response.WhichOneof("response") == "speech_event":
                event = response.speech_event
                target = (
                    started if event.type == asr_pb2.SPEECH_EVENT_TYPE_SPEECH_STARTED else ended
                )
                target[event.utterance_index] = now
            elif response.result.is_final:
                finals[response.result.utterance_index] = now
        await sender
        wall = time.perf_counter() - start
    out: dict[str, list[float]] = {
        "wall_s": [wall],
        "end_to_final": [],
        "ended_to_final": [],
        "onset_to_started": [],
    }
    for index, (onset_ms, end_ms) in enumerate(speech.spans):
        if index in finals:
            out["end_to_final"].append(1000 * finals[index] - end_ms)
            out["ended_to_final"].append(1000 * (finals[index] - ended.get(index, finals[index])))
        if index in started:
            out["onset_to_started"].append(1000 * started[index] - onset_ms)
    return out


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "n": 0}
    array = np.asarray(values)
    return {
        "p50": round(float(np.percentile(array, 50)), 1),
        "p95": round(float(np.percentile(array, 95)), 1),
        "n": len(values),
    }


async def bench_engine(settings: AsrSettings, label: str, *, utterances: int) -> dict[str, Any]:
    """Runs the real-time factor and latency measurements on one engine."""
    recognizer = Recognizer(settings)
    bindings, startup, shutdown = build_service(settings, recognizer)
    loaded = time.perf_counter()
    await startup()
    load_s = time.perf_counter() - loaded
    server = GrpcServer(settings, bindings)
    await server.start()
    await server.set_serving(True)
    try:
        await _stream(server.address, make_speech(1), realtime=False)  # warm up
        long_speech = make_speech(len(SENTENCES))
        fast = await _stream(server.address, long_speech, realtime=False)
        result: dict[str, Any] = {
            "name": label,
            "load_s": round(load_s, 2),
            "rtf": round(fast["wall_s"][0] / long_speech.seconds, 4),
        }
        for streams in STREAM_COUNTS:
            runs = await asyncio.gather(
                *(
                    _stream(server.address, make_speech(utterances, shift=i), realtime=True)
                    for i in range(streams)
                )
            )
            merged = {key: [v for run in runs for v in run[key]] for key in runs[0]}
            result[f"streams_{streams}"] = {
                "end_of_speech_to_final_ms": _percentiles(merged["end_to_final"]),
                "speech_ended_to_final_ms": _percentiles(merged["ended_to_final"]),
                "onset_to_speech_started_ms": _percentiles(merged["onset_to_started"]),
            }
        return result
    finally:
        await server.stop(0)
        await shutdown()


def _whisper_model(args: argparse.Namespace, scratch: Path) -> tuple[str, str] | None:
    if os.environ.get("ASR_MODEL"):
        return os.environ["ASR_MODEL"], f"faster_whisper ({Path(os.environ['ASR_MODEL']).name})"
    try:
        from tests.support.random_whisper import build_random_whisper

        return str(build_random_whisper(scratch / "random-whisper")), "faster_whisper (random tiny)"
    except ImportError as exc:
        print(f"skipping faster_whisper: no ASR_MODEL and cannot build a test model ({exc})")
        return None


def _print_table(results: list[dict[str, Any]]) -> None:
    print(
        f"\n{'engine':<32} {'RTF':>7} {'streams':>7} {'end->final p50/p95 ms':>22} "
        f"{'ENDED->final p50/p95':>21} {'onset->STARTED p50/p95':>23}"
    )
    for result in results:
        for streams in STREAM_COUNTS:
            row = result[f"streams_{streams}"]
            cells = [
                f"{row[k]['p50']:>8.0f}/{row[k]['p95']:<6.0f}"
                for k in (
                    "end_of_speech_to_final_ms",
                    "speech_ended_to_final_ms",
                    "onset_to_speech_started_ms",
                )
            ]
            print(
                f"{result['name']:<32} {result['rtf']:>7.3f} {streams:>7} {cells[0]:>22} "
                f"{cells[1]:>21} {cells[2]:>23}"
            )


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    utterances = 2 if args.quick else 3
    results = []
    with tempfile.TemporaryDirectory(prefix="asr-bench-") as folder:
        if "pocketsphinx" in args.engines:
            settings = AsrSettings(
                port=0, host="127.0.0.1", engine="pocketsphinx", grace_period_s=0
            )
            results.append(await bench_engine(settings, "pocketsphinx", utterances=utterances))
        if "faster_whisper" in args.engines:
            model = _whisper_model(args, Path(folder))
            if model is not None:
                settings = AsrSettings(
                    port=0,
                    host="127.0.0.1",
                    engine="faster_whisper",
                    model=model[0],
                    grace_period_s=0,
                    # A random model is never sure of speech; see random_whisper.
                    no_speech_threshold=1.0 if "random" in model[1] else 0.6,
                )
                results.append(await bench_engine(settings, model[1], utterances=utterances))
    report: dict[str, Any] = {
        "chunk_ms": CHUNK_MS,
        "min_silence_ms": AsrSettings().min_silence_ms,
        "cpu_count": os.cpu_count(),
        "engines": results,
    }
    if "pocketsphinx" in args.engines:
        # Recognition accuracy with tutors' own language models (issue 15).
        report["tutor_model"] = await asyncio.to_thread(bench_accuracy, quick=args.quick)
    return report


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer utterances per stream")
    parser.add_argument(
        "--engines",
        nargs="+",
        default=["pocketsphinx", "faster_whisper"],
        choices=["pocketsphinx", "faster_whisper"],
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    report = asyncio.run(main_async(args))
    if "pocketsphinx" in args.engines:
        # End of turn (issue 19) and smart turn under load; pocketsphinx only.
        report["end_of_turn"] = asyncio.run(bench_end_of_turn(quick=args.quick))
    _print_table(report["engines"])
    if "end_of_turn" in report:
        print_end_of_turn(report["end_of_turn"])
    if "tutor_model" in report:
        print_accuracy(report["tutor_model"])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    print(f"\nwritten: {args.output}")
    print(
        "end->final counts from the true end of speech and includes the endpointer's "
        f"min_silence wait ({report['min_silence_ms']} ms); ENDED->final is the final decode"
    )


if __name__ == "__main__":
    main()
