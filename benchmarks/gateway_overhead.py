"""``python -m benchmarks.gateway_overhead``: the gateway's own cost per turn, without upstreams.

Runs Conversations on in-memory fake upstreams (tests/gateway/fake_upstreams.py: instant LLM
tokens, instant TTS audio), 1, 8 and 32 sessions at once, each asking typed questions with
spoken answers, and reports per turn: process CPU time (robust to other load on the machine)
and turn start -> first token (pure gateway latency, the fake LLM answers at once). Writes
``bench-results/gateway_overhead.json``. Complements ``benchmarks.gateway``, whose figures on
real services move with whatever else the machine is doing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np

from gateway.config import GatewaySettings
from gateway.conversation import Conversation
from gateway.converse_inputs import ClientInput, ConverseOptions, TextIn
from gateway.sessions import SessionRegistry, TutorProfile
from tests.gateway.fake_upstreams import FakeLlm, FakeUpstreams

OPTIONS = ConverseOptions(16000, 16000, True, True, False, False)


async def _session(
    registry: SessionRegistry, settings: GatewaySettings, turns: int, latencies: list[float]
) -> None:
    session, _ = registry.create(
        tenant_id="bench",
        student_id="s",
        tutor=TutorProfile(system_prompt="Teach."),
        engine_url="x",
    )
    registry.connect(session)
    fakes = FakeUpstreams(llm=FakeLlm(delay_s=0))
    conversation = Conversation(
        session, OPTIONS, clients=fakes.clients, registry=registry, settings=settings
    )
    inputs: asyncio.Queue[ClientInput | None] = asyncio.Queue()

    async def source() -> AsyncIterator[ClientInput]:
        while (item := await inputs.get()) is not None:
            yield item

    events = conversation.events(source())
    await anext(events)  # session opened
    for _ in range(turns):
        await inputs.put(TextIn("what is photosynthesis"))
        async for event in events:
            record = getattr(event, "record", None)
            if record is not None:
                timings = record.timings
                latencies.append((timings.first_token_us - timings.final_transcript_us) / 1000)
                break
    await inputs.put(None)
    async for _ in events:
        pass


async def measure(sessions: int, turns: int) -> dict[str, float]:
    """One round: ``sessions`` concurrent sessions of ``turns`` turns each."""
    settings = GatewaySettings(api_key="bench", media_lead_ms=0, max_sessions=1000)  # type: ignore[arg-type]
    registry = SessionRegistry(
        max_sessions=1000, idle_timeout_s=600, default_ttl_s=600, ended_retention_s=60
    )
    latencies: list[float] = []
    cpu = time.process_time()
    await asyncio.gather(*(_session(registry, settings, turns, latencies) for _ in range(sessions)))
    cpu_ms = (time.process_time() - cpu) * 1000
    return {
        "cpu_ms_per_turn": round(cpu_ms / len(latencies), 3),
        "first_token_p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "first_token_p95_ms": round(float(np.percentile(latencies, 95)), 2),
        "turns": len(latencies),
    }


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gateway_overhead")
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--out", type=Path, default=Path("bench-results/gateway_overhead.json"))
    args = parser.parse_args(argv)
    rounds = 3 if args.quick else 7
    report: dict[str, object] = {}
    print("sessions  cpu_ms_per_turn  first_token_p50_ms  first_token_p95_ms  (median of rounds)")
    for sessions in (1, 8, 32):
        results = [asyncio.run(measure(sessions, turns=5)) for _ in range(rounds)]
        median = {
            key: round(float(np.median([r[key] for r in results])), 3)
            for key in ("cpu_ms_per_turn", "first_token_p50_ms", "first_token_p95_ms")
        }
        report[str(sessions)] = {"median": median, "rounds": results}
        print(
            f"{sessions:>8}  {median['cpu_ms_per_turn']:>15}  {median['first_token_p50_ms']:>18}"
            f"  {median['first_token_p95_ms']:>18}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
