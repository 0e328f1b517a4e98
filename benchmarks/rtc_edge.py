"""``python -m benchmarks.rtc_edge [--quick]``: end of speech -> first video frame through the edge
and TURN, and CPU per connected peer (listening: the shared idle loop's packets, no encoding).
Writes bench-results/rtc_edge.json.

By default it starts the whole stack as child processes on free loopback ports (the four
inference services, the gateway, coturn, and ``python -m rtc_edge``); ``--gateway`` uses a
running gateway instead (with ``--api-key``). Students are aiortc peers forced to relay
through coturn, speaking an espeak-ng question.

The first video frame of an answer is the first frame decoded after the edge's
``playback: speaking`` message, which the edge sends when it hands that frame to the encoder.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from vtutor.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from loadtest.stack import ChildProcess, LocalStack
from loadtest.student_probe import StudentProbe
from svc_core.audio import espeak_samples, float_to_pcm16

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "what is photosynthesis"


def espeak(text: str) -> bytes:
    """``text`` spoken by espeak-ng as mono s16le at 16 kHz."""
    return float_to_pcm16(espeak_samples(text))


def _cpu_seconds(child: ChildProcess) -> float:
    """User + system CPU time of the process so far (Linux /proc)."""
    fields = Path(f"/proc/{child.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _create_session(stack: LocalStack, student: str) -> gateway_pb2.CreateSessionResponse:
    async with grpc.aio.insecure_channel(stack.gateway_address) as channel:
        stub = gateway_pb2_grpc.GatewayServiceStub(channel)
        tutor = gateway_pb2.TutorProfile(
            tutor_id="bench",
            display_name="Ada",
            video_enabled=True,
            language_code="en-US",
            system_prompt="You are a friendly science tutor.",
            phrase_hints=[QUESTION, "what is the water cycle"],
        )
        return await stub.CreateSession(
            gateway_pb2.CreateSessionRequest(tenant_id="bench", student_id=student, tutor=tutor),
            metadata=(("authorization", f"Bearer {stack.api_key}"),),
        )


async def _one_turn(stack: LocalStack, index: int, speech: bytes) -> dict[str, float]:
    session = await _create_session(stack, f"student-{index}")
    probe = StudentProbe(stack.edge_url, session.session.session_id, session.engine_token)
    try:
        status = await probe.connect(speech)
        if status != 200:
            raise RuntimeError(f"offer refused with {status}")
        received = probe.received
        deadline = time.monotonic() + 90
        speaking_at: float | None = None
        while time.monotonic() < deadline:
            for when, message in zip(received.message_times, received.messages, strict=True):
                if message.get("type") == "playback" and message.get("state") == "speaking":
                    speaking_at = when
                    break
            if speaking_at is not None:
                break
            await asyncio.sleep(0.01)
        if speaking_at is None or probe.microphone is None or probe.microphone.speech_end is None:
            raise RuntimeError(f"no answer: {received.messages[-5:]}")
        frame_at = None
        while frame_at is None and time.monotonic() < deadline:
            frame_at = next((t for t, _ in received.video if t >= speaking_at), None)
            await asyncio.sleep(0.005)
        assert frame_at is not None
        speech_end = probe.microphone.speech_end
        return {
            "end_of_speech_to_first_frame_ms": (frame_at - speech_end) * 1000,
            "end_of_speech_to_playback_message_ms": (speaking_at - speech_end) * 1000,
        }
    finally:
        await probe.close()


async def _cpu_per_peer(stack: LocalStack, peers: int, window_s: float) -> dict[str, object]:
    assert stack.edge is not None
    before = _cpu_seconds(stack.edge)
    await asyncio.sleep(window_s)
    baseline = (_cpu_seconds(stack.edge) - before) / window_s
    probes = []
    try:
        for index in range(peers):
            session = await _create_session(stack, f"idle-{index}")
            probe = StudentProbe(stack.edge_url, session.session.session_id, session.engine_token)
            if await probe.connect() != 200:
                raise RuntimeError("offer refused")
            await asyncio.wait_for(probe.channel_open.wait(), 30)
            probes.append(probe)
        await asyncio.sleep(2)  # encoders warm up
        before = _cpu_seconds(stack.edge)
        await asyncio.sleep(window_s)
        loaded = (_cpu_seconds(stack.edge) - before) / window_s
        frames = [len(p.received.video) for p in probes]
        codecs = probes[0].codecs if probes else {}
    finally:
        for probe in probes:
            await probe.close()
    return {
        "peers": peers,
        "edge_cores_idle": round(baseline, 4),
        "edge_cores_with_peers": round(loaded, 4),
        "cores_per_peer": round((loaded - baseline) / peers, 4),
        "min_frames_received_per_peer": min(frames),
        "codecs": codecs,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    stack = LocalStack(args.api_key, webrtc=True, gateway_address=args.gateway)
    stack.start()
    try:
        speech = espeak(QUESTION)  # the probe sends silence after it, as a quiet microphone
        turns = [await _one_turn(stack, i, speech) for i in range(args.turns)]
        latencies = [t["end_of_speech_to_first_frame_ms"] for t in turns]
        cpu = await _cpu_per_peer(stack, args.peers, args.window)
    finally:
        stack.stop()
    return {
        "name": "rtc_edge",
        "question": QUESTION,
        "turns": len(turns),
        "end_of_speech_to_first_frame_ms": {
            "p50": round(statistics.median(latencies), 1),
            "max": round(max(latencies), 1),
            "mean": round(float(np.mean(latencies)), 1),
            "each": [round(x, 1) for x in latencies],
        },
        "end_of_speech_to_playback_message_ms_p50": round(
            statistics.median(t["end_of_speech_to_playback_message_ms"] for t in turns), 1
        ),
        "cpu": cpu,
        "path": "aiortc student -> coturn relay (loopback) -> edge host candidate",
        "cores": os.cpu_count(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer turns and peers")
    parser.add_argument("--gateway", help="use this running gateway (host:port)")
    parser.add_argument("--api-key", default="bench-api-key", help="the gateway's API key")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "rtc_edge.json")
    args = parser.parse_args()
    args.turns = 2 if args.quick else 5
    args.peers = 2 if args.quick else 4
    args.window = 5.0 if args.quick else 10.0
    result = asyncio.run(run(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
