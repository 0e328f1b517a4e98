"""``python -m benchmarks.session_store``: what keeping sessions in a store costs the gateway.

For the embedded SQLite store and a real redis-server (tests/support/redis_server.py), through
the registry as the gateway uses it: appending a finished turn (awaited before the turn is
recorded), resuming a session with 20 turns of history on a fresh registry (a restarted
gateway: what a reconnecting client waits for), checking an engine token of a session held
elsewhere (CheckEngineToken), and one sweep round over 200 live sessions (once a second per
replica). Writes ``bench-results/session_store.json``. Numbers move with other load on the
machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from gateway.session_store.base import SessionStore
from gateway.session_store.redis import RedisSessionStore
from gateway.session_store.sqlite import SqliteSessionStore
from gateway.sessions import SessionRegistry, TutorProfile
from gateway.turn_records import TurnOutcome, TurnRecord, TurnTimings
from tests.support.redis_server import RedisServer

TUTOR = TutorProfile(system_prompt="You are a friendly science tutor.", llm_model="m")


def _turn(index: int) -> TurnRecord:
    return TurnRecord(
        turn_id=uuid.uuid4().hex,
        turn_index=index,
        user_text="What is photosynthesis and why do plants need sunlight?",
        assistant_text="Photosynthesis is how plants turn sunlight, water and air into food. " * 3,
        outcome=TurnOutcome.COMPLETED,
        timings=TurnTimings(final_transcript_us=1, first_token_us=2, end_us=3),
        start_time=datetime.now(UTC),
    )


def _registry(store: SessionStore, instance: str) -> SessionRegistry:
    return SessionRegistry(
        max_sessions=10_000,
        idle_timeout_s=600,
        default_ttl_s=3600,
        ended_retention_s=60,
        store=store,
        instance_id=instance,
        disconnect_grace_s=30,
    )


async def _timed(work: Callable[[], Awaitable[Any]], repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        await work()
        times.append((time.perf_counter() - start) * 1000)
    return {
        "p50": round(float(np.percentile(times, 50)), 3),
        "p95": round(float(np.percentile(times, 95)), 3),
    }


async def measure(open_store: Callable[[], SessionStore], repeat: int) -> dict[str, Any]:
    """Every figure for one kind of store."""
    first = _registry(open_store(), "bench-a")
    session, token = await first.create_session(
        tenant_id="bench", student_id="s", tutor=TUTOR, engine_url="x"
    )
    live = await first.open_stream(session.session_id, token)
    append = await _timed(lambda: first.add_turn(live, _turn(0)), repeat)
    # A session with 20 turns, resumed by a restarted gateway (a fresh registry each time).
    resumable, resumable_token = await first.create_session(
        tenant_id="bench", student_id="r", tutor=TUTOR, engine_url="x"
    )
    for index in range(20):
        await first.store.append_turn(resumable.session_id, _turn(index))  # type: ignore[union-attr]
    restarted = [_registry(open_store(), "bench-b") for _ in range(repeat)]
    pending = iter(restarted)

    async def resume() -> None:
        registry = next(pending)
        resumed = await registry.open_stream(resumable.session_id, resumable_token)
        assert len(resumed.turns) == 20
        registry.disconnect(resumed)
        await registry.close()

    resume_ms = await _timed(resume, repeat)
    checker = _registry(open_store(), "bench-c")
    check = await _timed(lambda: checker.authenticate(session.session_id, token), repeat)
    for index in range(200):
        await first.create_session(
            tenant_id="bench", student_id=f"many-{index}", tutor=TUTOR, engine_url="x"
        )
    sweep = await _timed(first.sweep_store, max(repeat // 10, 5))
    await checker.close()
    await first.close()
    return {
        "append_turn_ms": append,
        "resume_20_turns_ms": resume_ms,
        "check_token_elsewhere_ms": check,
        "sweep_200_sessions_ms": sweep,
    }


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.session_store")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--out", type=Path, default=Path("bench-results/session_store.json"))
    args = parser.parse_args(argv)
    repeat = 50 if args.quick else 300
    report: dict[str, Any] = {}
    folder = Path(tempfile.mkdtemp(prefix="bench-sessions-"))
    report["sqlite"] = asyncio.run(
        measure(lambda: SqliteSessionStore(folder / "sessions.sqlite3"), repeat)
    )
    server = RedisServer()
    server.start()
    try:
        prefix = f"bench-{uuid.uuid4().hex}:"
        report["redis"] = asyncio.run(
            measure(lambda: RedisSessionStore(server.url, prefix=prefix), repeat)
        )
    finally:
        server.stop()
    print(f"{'store':<8}{'measure':<28}{'p50 ms':>10}{'p95 ms':>10}")
    for kind, figures in report.items():
        for name, value in figures.items():
            print(f"{kind:<8}{name:<28}{value['p50']:>10}{value['p95']:>10}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
