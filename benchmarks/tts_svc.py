"""Benchmark of tts_svc: ``python -m benchmarks.tts_svc [--quick] [--streams 1,16]``.

For each engine (``--engines piper,espeak``; the first is the default engine and fills the
top-level ``levels``), starts ``python -m tts_svc`` as its own process and measures, at each
concurrency:

- first-clause latency: from sending the token that completes the first clause (its
  punctuation) to receiving that clause's first audio. Tokens arrive at LLM pace; the
  segmenter needs the next character to decide a boundary, so the latency includes one
  token interval. ``after lookahead`` measures from that next token instead: from the
  moment the clause is known to be complete;
- real-time factor: wall time to synthesize a whole answer sent at once / its audio length;
- underruns: audio chunks that would reach a player after their play time, if playback
  started with the first chunk (0 means the stream never starves a listener).

Then, in a process pinned to one core (one inference at a time, one thread), the real-time
factor of one stream: by wall time (``rtf_one_core``) and by the service's own CPU time
(``cpu_rtf_one_core``, which other load on the machine barely changes).

Prints a table and writes JSON to ``bench-results/tts_svc.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from vtutor.common.v1 import media_pb2
from vtutor.tts.v1 import tts_pb2, tts_pb2_grpc

from tts_svc.config import TtsSettings
from tts_svc.segmenter import TextSegmenter

ANSWER = (
    "Great question. To add fractions with different denominators, first find a common "
    "denominator, for example by multiplying the two denominators together. Then rewrite "
    "each fraction with that denominator, add the numerators, and simplify the result if "
    "you can. So one half plus one third is three sixths plus two sixths, which is five "
    "sixths."
)
# Answers whose first segment ends differently: a short sentence, a clause cut at a comma
# after a few words, a longer first sentence. Streams take them in turn.
ANSWERS = (
    ANSWER,
    "Plants make their food, mostly sugar, from sunlight, water and carbon dioxide. The "
    "green pigment in their leaves, called chlorophyll, captures the light they need.",
    "The water cycle moves water between the oceans and the sky. Water evaporates, forms "
    "clouds, and falls again as rain or snow, which flows back to the sea.",
)
SAMPLE_RATE = 16000


@dataclass
class StreamResult:
    """What one benchmark stream measured."""

    first_clause_latency_ms: float
    after_lookahead_ms: float
    underruns: int
    audio_s: float


@dataclass
class LevelResult:
    """Aggregates at one concurrency level."""

    name: str
    streams: int
    first_clause_p50_ms: float
    first_clause_p95_ms: float
    first_clause_max_ms: float
    after_lookahead_p50_ms: float
    rtf_per_stream: float
    rtf_aggregate: float
    underrun_streams: int
    errors: int


def tokens_of(text: str) -> list[str]:
    """Word-level tokens with their leading space, punctuation on its own (like BPE)."""
    tokens: list[str] = []
    word = ""
    for ch in text:
        if ch.isalnum():
            word += ch
            continue
        if word:
            tokens.append(word)
            word = ""
        if ch == " ":
            word = " "
        else:
            tokens.append(ch)
    if word:
        tokens.append(word)
    return tokens


def first_clause_tokens(tokens: list[str]) -> tuple[int, int]:
    """(index of the token that ends the first segment, index of the token that decides it)."""
    defaults = TtsSettings()
    segmenter = TextSegmenter(
        min_clause_words=defaults.min_clause_words,
        first_clause_words=defaults.first_clause_words,
    )
    for deciding, token in enumerate(tokens):
        if segmenter.push(token):
            received = "".join(tokens[: deciding + 1])
            end = len(received) - len(segmenter.pending)  # past the cut and its spaces
            while received[end - 1].isspace():
                end -= 1
            position = 0
            for index, earlier in enumerate(tokens):
                position += len(earlier)
                if position >= end:
                    return index, deciding
    raise ValueError("the text has no segment boundary")


async def paced_stream(
    stub: tts_pb2_grpc.TtsServiceStub, tokens: list[str], interval_s: float
) -> StreamResult:
    clause_token, deciding_token = first_clause_tokens(tokens)
    sent_at: dict[int, float] = {}

    async def requests() -> AsyncIterator[tts_pb2.StreamingSynthesizeRequest]:
        yield tts_pb2.StreamingSynthesizeRequest(
            config=tts_pb2.SynthesisConfig(
                output_format=media_pb2.AudioFormat(sample_rate_hz=SAMPLE_RATE)
            )
        )
        for index, token in enumerate(tokens):
            await asyncio.sleep(interval_s)
            sent_at[index] = time.perf_counter()
            yield tts_pb2.StreamingSynthesizeRequest(text=token)

    first_audio = None
    playback_start = 0.0
    underruns = 0
    samples = 0
    async for response in stub.StreamingSynthesize(requests()):
        if not response.HasField("audio"):
            continue
        now = time.perf_counter()
        if first_audio is None:
            first_audio = playback_start = now
        elif now > playback_start + response.audio.pts_us / 1e6:
            underruns += 1
        samples += len(response.audio.data) // 2
    assert first_audio is not None, "no audio"
    return StreamResult(
        first_clause_latency_ms=(first_audio - sent_at[clause_token]) * 1000,
        after_lookahead_ms=(first_audio - sent_at[deciding_token]) * 1000,
        underruns=underruns,
        audio_s=samples / SAMPLE_RATE,
    )


async def whole_text_stream(stub: tts_pb2_grpc.TtsServiceStub, text: str) -> tuple[float, float]:
    """(wall seconds, audio seconds) for a text sent at once."""
    requests = [
        tts_pb2.StreamingSynthesizeRequest(
            config=tts_pb2.SynthesisConfig(
                output_format=media_pb2.AudioFormat(sample_rate_hz=SAMPLE_RATE)
            )
        ),
        tts_pb2.StreamingSynthesizeRequest(text=text),
    ]
    started = time.perf_counter()
    samples = 0
    async for response in stub.StreamingSynthesize(iter(requests)):
        if response.HasField("audio"):
            samples += len(response.audio.data) // 2
    return time.perf_counter() - started, samples / SAMPLE_RATE


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def run_level(
    stub: tts_pb2_grpc.TtsServiceStub, streams: int, rounds: int, interval_s: float
) -> LevelResult:
    answers = [tokens_of(answer) for answer in ANSWERS]
    results: list[StreamResult] = []
    errors = 0
    for round_index in range(rounds):
        outcomes = await asyncio.gather(
            *(
                paced_stream(stub, answers[(round_index + n) % len(answers)], interval_s)
                for n in range(streams)
            ),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                errors += 1
            else:
                results.append(outcome)
    started = time.perf_counter()
    whole = await asyncio.gather(*(whole_text_stream(stub, ANSWER) for _ in range(streams)))
    wall = time.perf_counter() - started
    latencies = [r.first_clause_latency_ms for r in results] or [float("nan")]
    return LevelResult(
        name=f"{streams}_streams",
        streams=streams,
        first_clause_p50_ms=statistics.median(latencies),
        first_clause_p95_ms=percentile(latencies, 0.95),
        first_clause_max_ms=max(latencies),
        after_lookahead_p50_ms=statistics.median(r.after_lookahead_ms for r in results)
        if results
        else float("nan"),
        rtf_per_stream=statistics.median(w / a for w, a in whole),
        rtf_aggregate=wall / sum(a for _, a in whole),
        underrun_streams=sum(1 for r in results if r.underruns),
        errors=errors,
    )


async def wait_serving(address: str, process: asyncio.subprocess.Process) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(300):
            if process.returncode is not None:
                raise SystemExit(f"tts_svc exited with {process.returncode}")
            try:
                reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("tts_svc did not become SERVING within 30 s")


async def start_service(
    engine: str, extra_env: dict[str, str] | None = None, *, one_core: bool = False
) -> tuple[asyncio.subprocess.Process, str]:
    """``python -m tts_svc`` with ``engine``, serving; returns the process and its address."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "TTS_PORT": str(port),
        "TTS_LOG_LEVEL": "WARNING",
        "TTS_ENGINE": engine,
        **(extra_env or {}),
    }

    def pin_to_one_core() -> None:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tts_svc",
        env=env,
        preexec_fn=pin_to_one_core if one_core else None,
    )
    address = f"127.0.0.1:{port}"
    try:
        await wait_serving(address, process)
    except BaseException:
        process.terminate()
        await process.wait()
        raise
    return process, address


async def stop_service(process: asyncio.subprocess.Process) -> None:
    process.terminate()
    await process.wait()


async def bench_engine(engine: str, args: argparse.Namespace) -> dict[str, object]:
    """Concurrency levels, then the one-core real-time factor, of one engine."""
    process, address = await start_service(engine)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = tts_pb2_grpc.TtsServiceStub(channel)
            await whole_text_stream(stub, "Warm up.")
            levels = [
                await run_level(stub, streams, args.rounds, args.token_interval_ms / 1000)
                for streams in args.streams
            ]
    finally:
        await stop_service(process)
    one_core = {"TTS_PIPER_WORKERS": "1", "TTS_PIPER_THREADS": "1"}
    process, address = await start_service(engine, one_core, one_core=True)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = tts_pb2_grpc.TtsServiceStub(channel)
            await whole_text_stream(stub, "Warm up.")
            cpu_before = process_cpu_s(process.pid)
            runs = [await whole_text_stream(stub, ANSWER) for _ in range(args.rounds)]
            cpu_s = process_cpu_s(process.pid) - cpu_before
    finally:
        await stop_service(process)
    return {
        "name": engine,
        "levels": [asdict(level) for level in levels],
        # Wall time on the pinned core: inflated by whatever else runs on that core.
        "rtf_one_core": statistics.median(wall / audio for wall, audio in runs),
        # The service's own CPU time per second of audio: what a core it had alone would take.
        "cpu_rtf_one_core": cpu_s / sum(audio for _, audio in runs),
    }


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def piper_first_audio_cpu_ms(rounds: int) -> dict[str, float]:
    """CPU time (one thread) from a first segment's text to its first audio window, per answer.

    The compute behind the first-clause latency, without the waiting a busy machine adds:
    phonemes, text encoder, the first window's flow and decoder.
    """
    from tts_svc.engines.piper import DEFAULT_VOICE, decode_windows
    from tts_svc.piper_voice import PiperModel, RunHandle, installed_voice_files

    (voice,) = [v for v in installed_voice_files() if v.name == DEFAULT_VOICE]
    model = PiperModel(voice, threads=1)
    first_frames = TtsSettings().piper_first_chunk_frames
    results = {}
    for answer in ANSWERS:
        tokens = tokens_of(answer)
        clause_token, _ = first_clause_tokens(tokens)
        first_segment = "".join(tokens[: clause_token + 1]).strip()
        times = []
        for _ in range(max(3, rounds)):
            handle = RunHandle()
            started = time.thread_time()
            phonemes = model.phonemize(first_segment)[0]
            sentence = model.encode(phonemes, 1.0, handle)
            _, end = next(decode_windows(sentence.frames, first_frames))
            model.decode(model.flow(sentence, 0, end, handle), 0, end, handle)
            times.append((time.thread_time() - started) * 1000)
        results[first_segment] = statistics.median(times)
    return results


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    load_before = os.getloadavg()[0]
    engines = [await bench_engine(engine, args) for engine in args.engines]
    return {
        # Other work on the machine slows every wall-clock number here; this says how much.
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
        "engine": args.engines[0],
        "token_interval_ms": args.token_interval_ms,
        "rounds": args.rounds,
        "sample_rate_hz": SAMPLE_RATE,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        # The default engine's levels, where `make bench` reads its headlines.
        "levels": engines[0]["levels"],
        "engines": engines,
        "piper_first_audio_cpu_ms": (
            await asyncio.to_thread(piper_first_audio_cpu_ms, args.rounds)
            if "piper" in args.engines
            else {}
        ),
    }


def print_table(report: dict[str, object]) -> None:
    print(
        f"tts_svc, tokens every {report['token_interval_ms']} ms, "
        f"{report['rounds']} round(s) per level"
    )
    header = (
        f"{'engine':>7} {'streams':>7} {'1st clause p50':>14} {'p95':>7} {'max':>7} "
        f"{'after look':>10} {'RTF/stream':>10} {'RTF total':>9} {'underruns':>9} {'errors':>6}"
    )
    print(header)
    for engine in report["engines"]:  # type: ignore[attr-defined]
        for level in engine["levels"]:
            print(
                f"{engine['name']:>7} {level['streams']:>7} "
                f"{level['first_clause_p50_ms']:>11.1f} ms "
                f"{level['first_clause_p95_ms']:>7.1f} {level['first_clause_max_ms']:>7.1f} "
                f"{level['after_lookahead_p50_ms']:>7.1f} ms {level['rtf_per_stream']:>10.4f} "
                f"{level['rtf_aggregate']:>9.4f} {level['underrun_streams']:>9} "
                f"{level['errors']:>6}"
            )
    for engine in report["engines"]:  # type: ignore[attr-defined]
        print(
            f"{engine['name']}: real-time factor on one core {engine['rtf_one_core']:.4f} "
            f"(wall), {engine['cpu_rtf_one_core']:.4f} (its own CPU time)"
        )
    for segment, cpu_ms in report["piper_first_audio_cpu_ms"].items():  # type: ignore[attr-defined]
        print(f"piper CPU time to first audio of {segment!r}: {cpu_ms:.1f} ms")
    load = report["load_average_1min"]
    print(f"load average (1 min) before {load['before']:.1f}, after {load['after']:.1f}")  # type: ignore[index]


def main() -> None:
    """Parses flags, runs the benchmark, prints the table and writes the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round per level")
    parser.add_argument(
        "--streams",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 16],
        help="concurrency levels, comma-separated (default 1,16)",
    )
    parser.add_argument(
        "--engines",
        type=lambda s: s.split(","),
        default=["piper", "espeak"],
        help="engines, comma-separated, the default engine first (default piper,espeak)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds per level (default 3)")
    parser.add_argument("--token-interval-ms", type=float, default=25.0, help="LLM pace")
    parser.add_argument("--output", type=Path, default=Path("bench-results/tts_svc.json"))
    args = parser.parse_args()
    if args.quick:
        args.rounds = 1
    report = asyncio.run(main_async(args))
    print_table(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
