"""``python -m benchmarks.gateway``: turn latency and the gateway's own overhead (embedded engines).

Starts asr_svc, llm_svc, tts_svc and lipsync_svc as child processes (or uses running ones with
``--use-running``, at the GATEWAY_*_ADDRESS settings) and a gateway in this process, then:

- spoken questions (espeak-ng, streamed in real time): end of speech -> first audio and -> first
  frame, p50/p95; then an interrupt, and how long until the INTERRUPTED event arrives;
- text turns with 1, 8 and 32 concurrent sessions: the gateway's overhead per turn, i.e. the
  time to the first caption minus the LLM's own time to first token (from its usage report),
  measured inside the gateway (stage timestamps) and at the client.

Prints a table and writes ``bench-results/gateway.json``. ``--quick`` makes it shorter.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from vtutor.common.v1 import media_pb2
from vtutor.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from gateway import metrics as gateway_metrics
from gateway.app import build_gateway
from gateway.auth import bearer_metadata
from gateway.config import GatewaySettings
from gateway.server import GatewayServicer
from loadtest.stack import LocalStack
from svc_core.audio import espeak_samples, float_to_pcm16
from svc_core.server import GrpcServer
from svc_core.settings import ServiceSettings

API_KEY = "bench-key"
QUESTIONS = ["what is photosynthesis", "what is the water cycle", "how do plants make their food"]
TEXT_QUESTIONS = ["What is photosynthesis?", "What is the water cycle?", "What is two plus two?"]
FRAME_SIZE = 128


def spoken_question(text: str) -> bytes:
    """``text`` spoken by espeak-ng as 16 kHz PCM, then a second of silence."""
    return float_to_pcm16(espeak_samples(text, words_per_minute=160)) + bytes(32000)


def _tutor(video: bool) -> gateway_pb2.TutorProfile:
    return gateway_pb2.TutorProfile(
        display_name="Bench",
        language_code="en-US",
        video_enabled=video,
        phrase_hints=QUESTIONS,
    )


async def _session(stub: gateway_pb2_grpc.GatewayServiceStub, video: bool) -> tuple[str, str]:
    created = await stub.CreateSession(
        gateway_pb2.CreateSessionRequest(tenant_id="bench", student_id="s", tutor=_tutor(video)),
        metadata=bearer_metadata(API_KEY),
    )
    return created.session.session_id, created.engine_token


async def spoken_turn(stub: gateway_pb2_grpc.GatewayServiceStub, text: str) -> dict[str, float]:
    """One spoken question with video; interrupted once its first frame has arrived."""
    session_id, token = await _session(stub, video=True)
    requests: asyncio.Queue[gateway_pb2.ConverseRequest | None] = asyncio.Queue()
    config = gateway_pb2.ConverseConfig(
        session_id=session_id,
        video=gateway_pb2.VideoSettings(fps=25, width=FRAME_SIZE, height=FRAME_SIZE),
    )
    await requests.put(gateway_pb2.ConverseRequest(config=config))

    async def source():  # type: ignore[no-untyped-def]
        while (request := await requests.get()) is not None:
            yield request

    async def speak() -> None:
        pcm = spoken_question(text)
        for start in range(0, len(pcm), 640):
            await requests.put(gateway_pb2.ConverseRequest(audio=pcm[start : start + 640]))
            await asyncio.sleep(0.02)

    call = stub.Converse(source(), metadata=bearer_metadata(token))
    speaker = asyncio.create_task(speak())
    result: dict[str, float] = {}
    interrupt_sent = 0.0
    frames_after_interrupt = 0
    async for response in call:
        kind = response.WhichOneof("response")
        if kind == "media_frame" and not interrupt_sent:
            interrupt_sent = time.perf_counter()
            await requests.put(gateway_pb2.ConverseRequest(interrupt=gateway_pb2.Interrupt()))
        elif kind == "media_frame":
            frames_after_interrupt += 1
        elif kind == "turn_event" and response.turn_event.type in (
            gateway_pb2.TURN_EVENT_TYPE_INTERRUPTED,
            gateway_pb2.TURN_EVENT_TYPE_COMPLETED,
            gateway_pb2.TURN_EVENT_TYPE_FAILED,
        ):
            t = response.turn_event.timings
            if t.end_of_speech_us and t.first_audio_us and t.first_frame_us:
                result = {
                    "eos_to_transcript_ms": (t.final_transcript_us - t.end_of_speech_us) / 1000,
                    "eos_to_first_audio_ms": (t.first_audio_us - t.end_of_speech_us) / 1000,
                    "eos_to_first_frame_ms": (t.first_frame_us - t.end_of_speech_us) / 1000,
                    "interrupt_to_event_ms": (time.perf_counter() - interrupt_sent) * 1000,
                    "frames_after_interrupt": frames_after_interrupt,
                }
            break
    await speaker
    await requests.put(None)
    call.cancel()
    return result


async def text_turns(
    stub: gateway_pb2_grpc.GatewayServiceStub,
    servicer: GatewayServicer,
    turns: int,
    index: int,
) -> list[dict[str, float]]:
    """``turns`` typed questions with spoken (audio) answers in one session."""
    session_id, token = await _session(stub, video=False)
    requests: asyncio.Queue[gateway_pb2.ConverseRequest | None] = asyncio.Queue()
    config = gateway_pb2.ConverseConfig(
        session_id=session_id,
        output_modalities=[gateway_pb2.MODALITY_TEXT, gateway_pb2.MODALITY_AUDIO],
        output_audio_format=media_pb2.AudioFormat(sample_rate_hz=16000),
    )
    await requests.put(gateway_pb2.ConverseRequest(config=config))

    async def source():  # type: ignore[no-untyped-def]
        while (request := await requests.get()) is not None:
            yield request

    call = stub.Converse(source(), metadata=bearer_metadata(token))
    await call.read()  # ready
    results = []
    for turn in range(turns):
        question = TEXT_QUESTIONS[(index + turn) % len(TEXT_QUESTIONS)]
        first_caption_ms = await ask_typed(call, requests, question)
        record = servicer.registry.get(session_id).turns[-1]
        t = record.timings
        ttft_ms = record.llm_time_to_first_token_ms
        results.append(
            {
                "gateway_overhead_ms": (t.first_token_us - t.final_transcript_us) / 1000 - ttft_ms,
                "client_overhead_ms": first_caption_ms - ttft_ms,
                "first_audio_after_token_ms": (t.first_audio_us - t.first_token_us) / 1000,
                "turn_ms": (t.end_us - t.final_transcript_us) / 1000,
            }
        )
    await requests.put(None)
    call.cancel()
    return results


async def ask_typed(
    call: Any,  # the Converse call (grpc.aio.StreamStreamCall)
    requests: asyncio.Queue[gateway_pb2.ConverseRequest | None],
    question: str,
) -> float:
    """Types ``question`` on an open Converse stream and reads until its turn ends; returns
    the ms from sending it to the first caption."""
    sent = time.perf_counter()
    await requests.put(gateway_pb2.ConverseRequest(text=gateway_pb2.TextInput(text=question)))
    first_caption = 0.0
    while True:
        response = await call.read()
        if response is grpc.aio.EOF:  # type: ignore[attr-defined]
            raise RuntimeError("stream ended early")
        if response.HasField("assistant_text") and not first_caption:
            first_caption = time.perf_counter()
        if response.HasField("turn_event") and response.turn_event.type in (
            gateway_pb2.TURN_EVENT_TYPE_COMPLETED,
            gateway_pb2.TURN_EVENT_TYPE_FAILED,
        ):
            return (first_caption - sent) * 1000


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "n": 0}
    array = np.asarray(values)
    return {
        "p50": round(float(np.percentile(array, 50)), 2),
        "p95": round(float(np.percentile(array, 95)), 2),
        "n": len(values),
    }


async def run(args: argparse.Namespace, addresses: dict[str, str]) -> dict[str, object]:
    """Runs every measurement against a gateway in this process."""
    settings = GatewaySettings(
        port=0,
        api_key=API_KEY,  # type: ignore[arg-type]
        asr_address=addresses["asr"],
        llm_address=addresses["llm"],
        tts_address=addresses["tts"],
        lipsync_address=addresses["lipsync"],
        max_sessions=1000,
        media_lead_ms=0,
        log_level="WARNING",
    )
    servicer, bindings, startup, shutdown = build_gateway(settings)
    server = GrpcServer(ServiceSettings(port=0, grace_period_s=0), bindings)
    await server.start()
    await server.set_serving(True)
    await startup()
    report: dict[str, object] = {}
    try:
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = gateway_pb2_grpc.GatewayServiceStub(channel)
            spoken = []
            started = time.monotonic()
            for index in range(args.spoken_turns):
                spoken.append(await spoken_turn(stub, QUESTIONS[index % len(QUESTIONS)]))
            spoken = [s for s in spoken if s]
            report["spoken"] = {
                key: _percentiles([s[key] for s in spoken])
                for key in (
                    "eos_to_transcript_ms",
                    "eos_to_first_audio_ms",
                    "eos_to_first_frame_ms",
                    "interrupt_to_event_ms",
                    "frames_after_interrupt",
                )
            }
            report["spoken_seconds"] = round(time.monotonic() - started, 1)
            overhead: dict[str, object] = {}
            for sessions in args.concurrency:
                batches = await asyncio.gather(
                    *(text_turns(stub, servicer, args.text_turns, i) for i in range(sessions))
                )
                flat = [turn for batch in batches for turn in batch]
                overhead[str(sessions)] = {
                    key: _percentiles([t[key] for t in flat])
                    for key in (
                        "gateway_overhead_ms",
                        "client_overhead_ms",
                        "first_audio_after_token_ms",
                        "turn_ms",
                    )
                }
            report["overhead_by_sessions"] = overhead
            # Answers prepared before the final transcript (gateway.speculation).
            report["speculations"] = dict(gateway_metrics.SPECULATIONS)
    finally:
        await shutdown()
        await server.stop(0)
    return report


def print_table(report: dict[str, object]) -> None:
    """Prints the results as a table."""
    spoken = report["spoken"]
    assert isinstance(spoken, dict)
    print("\nspoken question (video 128x128, embedded engines)      p50        p95     n")
    for key, values in spoken.items():
        print(f"  {key:<40} {values['p50']:>9} {values['p95']:>10} {values['n']:>5}")
    print(f"  speculations: {report.get('speculations')}")
    print("\ntext turns (audio answers): gateway overhead per turn    p50        p95     n")
    overhead = report["overhead_by_sessions"]
    assert isinstance(overhead, dict)
    for sessions, metrics in overhead.items():
        for key, values in metrics.items():
            label = f"{sessions:>2} sessions  {key}"
            print(f"  {label:<40} {values['p50']:>9} {values['p95']:>10} {values['n']:>5}")


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gateway", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer turns (about 30 s)")
    parser.add_argument(
        "--use-running", action="store_true", help="use services at GATEWAY_*_ADDRESS"
    )
    parser.add_argument("--out", type=Path, default=Path("bench-results/gateway.json"))
    args = parser.parse_args(argv)
    args.spoken_turns = 2 if args.quick else 6
    args.text_turns = 1 if args.quick else 3
    args.concurrency = [1, 8, 32]
    started = time.monotonic()
    if args.use_running:
        settings = GatewaySettings()
        addresses = {
            "asr": settings.asr_address,
            "llm": settings.llm_address,
            "tts": settings.tts_address,
            "lipsync": settings.lipsync_address,
        }
        report = asyncio.run(run(args, addresses))
    else:
        stack = LocalStack(API_KEY, start_gateway=False)  # the four services only
        stack.start(timeout_s=90)
        try:
            report = asyncio.run(run(args, stack.addresses))
        finally:
            stack.stop()
    report["quick"] = args.quick
    report["total_seconds"] = round(time.monotonic() - started, 1)
    report["cpu_count"] = os.cpu_count()
    print_table(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out} ({report['total_seconds']} s)")


if __name__ == "__main__":
    main()
