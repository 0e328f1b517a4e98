"""``python -m benchmarks.gateway_ab --ref REV``: the gateway at REV against the working tree's.

Both gateways run as processes in front of ONE stack of the four services (embedded engines),
and the measurements alternate between them question by question, so the load other work puts
on the machine hits both alike (a before/after of two separate ``benchmarks.gateway`` runs on a
shared machine mostly measures the machine). Per gateway: spoken questions with video (end of
speech -> final transcript, -> first audio, interrupt -> INTERRUPTED event, frames after it) and
typed questions with spoken answers at 1, 8 and 32 sessions (question sent -> first caption at
the client). Extra gateway settings per side with ``--env NAME=VALUE`` (both sides) or
``--new-env``. Writes ``bench-results/gateway_ab.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import numpy as np
from vtutor.common.v1 import media_pb2
from vtutor.gateway.v1 import gateway_pb2, gateway_pb2_grpc

from benchmarks.gateway import (
    API_KEY,
    QUESTIONS,
    TEXT_QUESTIONS,
    _session,
    ask_typed,
    spoken_turn,
)
from gateway.auth import bearer_metadata
from loadtest.stack import LocalStack

ROOT = Path(__file__).resolve().parent.parent
SPOKEN_KEYS = (
    "eos_to_transcript_ms",
    "eos_to_first_audio_ms",
    "eos_to_first_frame_ms",
    "interrupt_to_event_ms",
    "frames_after_interrupt",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_gateway(
    source: Path, addresses: dict[str, str], env: dict[str, str], log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """``python -m gateway`` with its package from ``source`` (the rest from the working tree)."""
    port = _free_port()
    child_env = {
        **os.environ,
        "PYTHONPATH": f"{source}{os.pathsep}{ROOT}",
        "GATEWAY_PORT": str(port),
        "GATEWAY_API_KEY": API_KEY,
        "GATEWAY_ASR_ADDRESS": addresses["asr"],
        "GATEWAY_LLM_ADDRESS": addresses["llm"],
        "GATEWAY_TTS_ADDRESS": addresses["tts"],
        "GATEWAY_LIPSYNC_ADDRESS": addresses["lipsync"],
        "GATEWAY_MEDIA_LEAD_MS": "0",
        "GATEWAY_MAX_SESSIONS": "1000",
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_DATA_DIR": tempfile.mkdtemp(prefix="gateway-ab-"),
        **env,
    }
    # cwd = source: `python -m gateway` imports the package from there first.
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway"],
        cwd=source,
        env=child_env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return process, f"127.0.0.1:{port}"


async def _ready(address: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            async with grpc.aio.insecure_channel(address) as channel:
                await _session(gateway_pb2_grpc.GatewayServiceStub(channel), video=False)
                return
        except grpc.aio.AioRpcError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _typed_turn(stub: gateway_pb2_grpc.GatewayServiceStub, index: int) -> float:
    """One typed question with spoken answers; ms from sending it to the first caption."""
    session_id, token = await _session(stub, video=False)
    requests: asyncio.Queue[gateway_pb2.ConverseRequest | None] = asyncio.Queue()
    await requests.put(
        gateway_pb2.ConverseRequest(
            config=gateway_pb2.ConverseConfig(
                session_id=session_id,
                output_modalities=[gateway_pb2.MODALITY_TEXT, gateway_pb2.MODALITY_AUDIO],
                output_audio_format=media_pb2.AudioFormat(sample_rate_hz=16000),
            )
        )
    )

    async def source():  # type: ignore[no-untyped-def]
        while (request := await requests.get()) is not None:
            yield request

    call = stub.Converse(source(), metadata=bearer_metadata(token))
    await call.read()  # ready
    first_caption_ms = await ask_typed(call, requests, TEXT_QUESTIONS[index % len(TEXT_QUESTIONS)])
    await requests.put(None)
    call.cancel()
    return first_caption_ms


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(float(np.percentile(values, 50)), 1),
        "p95": round(float(np.percentile(values, 95)), 1),
        "n": len(values),
    }


async def compare(gateways: dict[str, str], spoken: int, rounds: int) -> dict[str, object]:
    """Alternates the measurements between the gateways."""
    for address in gateways.values():
        await _ready(address)
    spoken_rows: dict[str, list[dict[str, float]]] = {name: [] for name in gateways}
    for index in range(spoken):
        for name, address in gateways.items():
            async with grpc.aio.insecure_channel(address) as channel:
                stub = gateway_pb2_grpc.GatewayServiceStub(channel)
                row = await spoken_turn(stub, QUESTIONS[index % len(QUESTIONS)])
            if row:
                spoken_rows[name].append(row)
    captions: dict[str, dict[int, list[float]]] = {n: {1: [], 8: [], 32: []} for n in gateways}
    for _ in range(rounds):
        for sessions in (1, 8, 32):
            for name, address in gateways.items():
                async with grpc.aio.insecure_channel(address) as channel:
                    stub = gateway_pb2_grpc.GatewayServiceStub(channel)
                    captions[name][sessions] += await asyncio.gather(
                        *(_typed_turn(stub, i) for i in range(sessions))
                    )
    return {
        name: {
            "spoken": {
                key: _stats([row[key] for row in spoken_rows[name]])
                for key in SPOKEN_KEYS
                if spoken_rows[name]
            },
            "first_caption_ms_by_sessions": {
                str(n): _stats(values) for n, values in captions[name].items()
            },
        }
        for name in gateways
    }


def _env(pairs: list[str]) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in pairs)


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gateway_ab", description=__doc__)
    parser.add_argument("--ref", required=True, help="git revision of the 'before' gateway")
    parser.add_argument("--spoken", type=int, default=6, help="spoken questions per gateway")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of typed questions")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE, both sides")
    parser.add_argument("--new-env", action="append", default=[], help="NAME=VALUE, new only")
    parser.add_argument("--out", type=Path, default=Path("bench-results/gateway_ab.json"))
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="gateway-ab-"))
    archive = subprocess.run(
        ["git", "archive", args.ref, "gateway"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(workdir)], input=archive, check=True)
    stack = LocalStack(API_KEY, start_gateway=False)
    stack.start(timeout_s=180)
    processes = []
    try:
        both = _env(args.env)
        before, before_address = start_gateway(
            workdir, stack.addresses, both, workdir / "before.log"
        )
        after, after_address = start_gateway(
            ROOT, stack.addresses, {**both, **_env(args.new_env)}, workdir / "after.log"
        )
        processes = [before, after]
        gateways = {f"before ({args.ref})": before_address, "after (working tree)": after_address}
        report = asyncio.run(compare(gateways, args.spoken, args.rounds))
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
        stack.stop()
    print(json.dumps(report, indent=1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
