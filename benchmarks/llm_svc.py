"""``python -m benchmarks.llm_svc``: the service's own overhead on top of Ollama.

Time to first token and tokens per second, for 1 and 16 concurrent streams, measured two ways
against the same fake Ollama server (``tests.support.fake_ollama``, a test double run as
its own process): directly with the ``ollama`` client, and through ``python -m llm_svc``
(Ollama engine, also its own process) with a gRPC client. The difference is what the service
adds. With no token delay (the default) the fake streams as fast as it can, so the tokens per
second compare the two paths' per-token cost; ``--token-delay-ms`` paces it like a real model.

Writes ``bench-results/llm_svc.json`` (``--output`` to change) and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import ollama
from grpc_health.v1 import health_pb2, health_pb2_grpc
from vtutor.llm.v1 import llm_pb2, llm_pb2_grpc

MODEL = "bench:latest"
QUESTION = "Explain photosynthesis in detail."
_TIMEOUT_S = 60


@dataclass(frozen=True)
class StreamTiming:
    """One stream as its client saw it."""

    time_to_first_token_s: float
    tokens: int
    #: From the first token to the last.
    streaming_s: float


@dataclass(frozen=True)
class RoundTiming:
    """Concurrent streams started together."""

    streams: list[StreamTiming]
    wall_s: float


async def direct_stream(client: ollama.AsyncClient) -> StreamTiming:
    """One chat stream straight from the fake Ollama server."""
    started = time.perf_counter()
    first = last = 0.0
    tokens = 0
    stream = await client.chat(
        model=MODEL, messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    async for part in stream:
        if part.message.content:
            last = time.perf_counter()
            first = first or last
            tokens += 1
    return StreamTiming(first - started, tokens, last - first)


async def service_stream(stub: llm_pb2_grpc.LlmServiceStub) -> StreamTiming:
    """One Generate stream through llm_svc."""
    started = time.perf_counter()
    first = last = 0.0
    tokens = 0
    request = llm_pb2.GenerateRequest(
        model=MODEL, messages=[llm_pb2.Message(role=llm_pb2.ROLE_USER, content=QUESTION)]
    )
    async for response in stub.Generate(request, timeout=_TIMEOUT_S):
        if response.HasField("delta"):
            last = time.perf_counter()
            first = first or last
        else:
            # Deltas that piled up are merged into one message: count what the engine made.
            tokens = response.done.usage.completion_tokens
    return StreamTiming(first - started, tokens, last - first)


async def run_rounds(
    stream: Callable[[], Awaitable[StreamTiming]], concurrency: int, rounds: int
) -> list[RoundTiming]:
    """``rounds`` rounds of ``concurrency`` simultaneous streams, after one warm-up round."""
    timings = []
    for index in range(rounds + 1):
        started = time.perf_counter()
        streams = await asyncio.gather(*(stream() for _ in range(concurrency)))
        if index:  # round 0 warms up connections and caches
            timings.append(RoundTiming(list(streams), time.perf_counter() - started))
    return timings


def summarize(path: str, concurrency: int, rounds: list[RoundTiming]) -> dict[str, Any]:
    """Percentiles and rates of one path at one concurrency."""
    streams = [s for r in rounds for s in r.streams]
    ttft_ms = sorted(s.time_to_first_token_s * 1000 for s in streams)
    per_stream = [s.tokens / s.streaming_s for s in streams if s.streaming_s > 0]
    return {
        "name": f"{path}-{concurrency}",
        "path": path,
        "streams": concurrency,
        "tokens_per_stream": min(s.tokens for s in streams),  # every stream got it all?
        "ttft_ms_p50": round(statistics.median(ttft_ms), 3),
        "ttft_ms_p95": round(_percentile(ttft_ms, 0.95), 3),
        "tokens_per_s_per_stream": round(statistics.mean(per_stream), 1) if per_stream else 0.0,
        "tokens_per_s_total": round(
            statistics.mean(sum(s.tokens for s in r.streams) / r.wall_s for r in rounds), 1
        ),
    }


def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@contextlib.contextmanager
def run_process(command: list[str], env: dict[str, str], ready: str) -> Iterator[str]:
    """Runs a child process until the context ends; yields the first match of ``ready``
    (a regex with one group) in its output."""
    proc = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=Path.cwd(),
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if match := re.search(ready, line):
                # Drain the rest so the child never blocks on a full pipe.
                threading.Thread(target=proc.stdout.read, daemon=True).start()
                yield match.group(1)
                break
        else:
            raise RuntimeError(f"{' '.join(command[1:3])} did not start:\n{''.join(lines)}")
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


async def wait_serving(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for _ in range(600):
            reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
            await asyncio.sleep(0.05)
    raise RuntimeError("llm_svc never reported SERVING")


@contextlib.asynccontextmanager
async def _clients(
    ollama_url: str, service_address: str
) -> AsyncIterator[tuple[ollama.AsyncClient, llm_pb2_grpc.LlmServiceStub]]:
    client = ollama.AsyncClient(
        host=ollama_url,
        timeout=httpx.Timeout(_TIMEOUT_S),
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
    )
    try:
        async with grpc.aio.insecure_channel(service_address) as channel:
            yield client, llm_pb2_grpc.LlmServiceStub(channel)
    finally:
        await client.close()


async def measure(
    ollama_url: str, service_address: str, concurrencies: list[int], rounds: int
) -> list[dict[str, Any]]:
    """Every path at every concurrency."""
    results = []
    async with _clients(ollama_url, service_address) as (client, stub):
        for concurrency in concurrencies:
            for path, stream in (
                ("direct", lambda: direct_stream(client)),
                ("service", lambda: service_stream(stub)),
            ):
                timings = await run_rounds(stream, concurrency, rounds)
                results.append(summarize(path, concurrency, timings))
    return results


def overhead(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the service adds at each concurrency."""
    by_name = {r["name"]: r for r in results}
    rows = []
    for concurrency in sorted({r["streams"] for r in results}):
        direct, service = by_name[f"direct-{concurrency}"], by_name[f"service-{concurrency}"]
        rows.append(
            {
                "name": f"overhead-{concurrency}",
                "streams": concurrency,
                "ttft_ms_p50_added": round(service["ttft_ms_p50"] - direct["ttft_ms_p50"], 3),
                "ttft_ms_p95_added": round(service["ttft_ms_p95"] - direct["ttft_ms_p95"], 3),
                "tokens_per_s_total_ratio": round(
                    service["tokens_per_s_total"] / direct["tokens_per_s_total"], 3
                ),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer tokens and rounds")
    parser.add_argument("--tokens", type=int, help="tokens per reply (default 256, quick 64)")
    parser.add_argument("--rounds", type=int, help="measured rounds (default 5, quick 2)")
    parser.add_argument("--streams", default="1,16", help="concurrencies, comma-separated")
    parser.add_argument("--token-delay-ms", type=float, default=0.0)
    parser.add_argument("--first-token-delay-ms", type=float, default=0.0)
    parser.add_argument("--output", type=Path, default=Path("bench-results/llm_svc.json"))
    args = parser.parse_args(argv)
    tokens = args.tokens or (64 if args.quick else 256)
    rounds = args.rounds or (2 if args.quick else 5)
    concurrencies = [int(c) for c in args.streams.split(",")]

    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path.cwd()), env.get("PYTHONPATH", "")])
    fake_command = [
        sys.executable, "-m", "tests.support.fake_ollama", "--model", MODEL,
        "--tokens", str(tokens), "--token-delay-ms", str(args.token_delay_ms),
        "--first-token-delay-ms", str(args.first_token_delay_ms),
    ]  # fmt: skip
    with (
        tempfile.TemporaryDirectory() as data_dir,
        run_process(fake_command, env, r"listening on (\S+)") as ollama_url,
    ):
        service_env = {
            **env,
            "LLM_ENGINE": "ollama",
            "LLM_OLLAMA_HOST": ollama_url,
            "LLM_OLLAMA_MODEL": MODEL,
            "LLM_PORT": "0",
            "LLM_DATA_DIR": data_dir,
        }
        with run_process(
            [sys.executable, "-m", "llm_svc"], service_env, r"listening on (\S+:\d+)"
        ) as service_address:
            asyncio.run(wait_serving(service_address))
            results = asyncio.run(measure(ollama_url, service_address, concurrencies, rounds))

    report = {
        "config": {
            "tokens": tokens,
            "rounds": rounds,
            "token_delay_ms": args.token_delay_ms,
            "first_token_delay_ms": args.first_token_delay_ms,
            "cpus": os.cpu_count(),
        },
        "results": results,
        "overhead": overhead(results),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    _print(report)
    print(f"\nwritten: {args.output}")
    return 0


def _print(report: dict[str, Any]) -> None:
    print(f"llm_svc overhead vs. direct Ollama client ({report['config']})")
    print(f"{'path':<8} {'streams':>7} {'ttft p50 ms':>12} {'ttft p95 ms':>12} "
          f"{'tok/s/stream':>13} {'tok/s total':>12}")  # fmt: skip
    for r in report["results"]:
        print(
            f"{r['path']:<8} {r['streams']:>7} {r['ttft_ms_p50']:>12.2f} {r['ttft_ms_p95']:>12.2f} "
            f"{r['tokens_per_s_per_stream']:>13.0f} {r['tokens_per_s_total']:>12.0f}"
        )
    for o in report["overhead"]:
        print(
            f"service adds at {o['streams']:>2} streams: "
            f"ttft p50 {o['ttft_ms_p50_added']:+.2f} ms, p95 {o['ttft_ms_p95_added']:+.2f} ms; "
            f"total tokens/s x{o['tokens_per_s_total_ratio']}"
        )


if __name__ == "__main__":
    sys.exit(main())
