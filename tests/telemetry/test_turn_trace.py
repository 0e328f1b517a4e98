"""One trace per turn across processes: the services and gateway export OTLP to a real collector.

The four services and the gateway run as child processes with ``OTEL_TRACES_EXPORTER=otlp``
and ``OTEL_METRICS_EXPORTER=otlp`` pointing at a collector this test serves; one simulated
student (the load-test harness) asks two spoken questions with video. The first turn's trace
must hold the gateway's turn and stage spans and a server span from each service, all under
the turn span; the gateway's metrics must report stage latencies and active sessions.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

from loadtest.config import LoadTestConfig
from loadtest.recorder import Recorder
from loadtest.runner import run_load
from loadtest.stack import LocalStack
from loadtest.utterances import DEFAULT_QUESTIONS, espeak_utterance
from tests.telemetry.otlp_collector import Collector, ReceivedSpan, running_collector

# One stack and conversation for the whole module (the loop must outlive the fixture's tests).
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

API_KEY = "telemetry-test-key"
SERVICES = ("asr_svc", "llm_svc", "tts_svc", "lipsync_svc")
SERVER_KIND = 2  # opentelemetry.proto.trace.v1.Span.SPAN_KIND_SERVER


@dataclass
class TracedRun:
    """A finished two-question conversation and what the collector received."""

    collector: Collector
    recorder: Recorder


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def traced_run() -> AsyncIterator[TracedRun]:
    async with running_collector() as collector:
        stack = LocalStack(
            API_KEY,
            # Speculation off: the ASR stream's span lives in the trace of the first turn that
            # starts, and a speculation discarded before its question's turn would be that one.
            gateway_env={"GATEWAY_SPECULATION_STABLE_MS": "0"},
            env={
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_METRICS_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{collector.address}",
                "OTEL_EXPORTER_OTLP_INSECURE": "true",
                "OTEL_BSP_SCHEDULE_DELAY": "100",
                "OTEL_METRIC_EXPORT_INTERVAL": "500",
            },
        )
        await asyncio.to_thread(stack.start)  # the collector keeps serving meanwhile
        try:
            config = LoadTestConfig(
                students=1,
                ramp_up_s=0,
                duration_s=60,
                think_time_s=0.2,
                max_turns_per_student=2,
                video_size=64,
            )
            utterances = [espeak_utterance(text) for text in DEFAULT_QUESTIONS[:2]]
            recorder = await run_load(
                config,
                utterances,
                gateway_address=stack.gateway_address,
                api_key=API_KEY,
                progress_interval_s=30,
            )
            # The conversation has ended, so every span has ended; give the exporters a moment.
            first = recorder.asked[0].turn_id
            for _ in range(100):
                if _server_services(collector, first) >= set(SERVICES) and _metric_names(
                    collector
                ) >= {"vtutor.gateway.stage.duration", "vtutor.gateway.active_sessions"}:
                    break
                await asyncio.sleep(0.1)
        finally:
            await asyncio.to_thread(stack.stop)
        yield TracedRun(collector, recorder)


def _turn_span(collector: Collector, turn_id: str) -> ReceivedSpan | None:
    return next(
        (
            s
            for s in collector.spans
            if s.span.name == "gateway.turn" and s.attribute("vtutor.turn_id") == turn_id
        ),
        None,
    )


def _server_services(collector: Collector, turn_id: str) -> set[str]:
    turn = _turn_span(collector, turn_id)
    if turn is None:
        return set()
    return {s.service for s in collector.trace(turn.trace_id) if s.span.kind == SERVER_KIND}


def _metric_names(collector: Collector) -> set[str]:
    return {name for _, name, _ in collector.metrics}


def _ancestors(span: ReceivedSpan, spans: list[ReceivedSpan]) -> list[str]:
    by_id = {s.span_id: s for s in spans}
    chain = []
    current: ReceivedSpan | None = span
    while current is not None and current.parent_id and current.parent_id != "0" * 16:
        chain.append(current.parent_id)
        current = by_id.get(current.parent_id)
    return chain


async def test_both_questions_were_answered(traced_run: TracedRun) -> None:
    asked = traced_run.recorder.asked
    assert [s.outcome for s in asked] == ["completed", "completed"]
    assert all(s.turn_id for s in asked)


async def test_a_turns_trace_holds_the_gateway_span_and_every_service_span(
    traced_run: TracedRun,
) -> None:
    collector = traced_run.collector
    first = traced_run.recorder.asked[0]
    turn = _turn_span(collector, first.turn_id)
    assert turn is not None, f"no gateway.turn span: {[s.span.name for s in collector.spans]}"
    assert turn.service == "gateway"
    assert turn.parent_id in ("", "0" * 16)  # one trace per turn: the turn span is its root
    assert turn.attribute("vtutor.outcome") == "completed"
    spans = collector.trace(turn.trace_id)
    # The gateway's stage spans are children of the turn span.
    stages = {
        s.span.name: s for s in spans if s.service == "gateway" and s.parent_id == turn.span_id
    }
    assert {"gateway.asr_final", "gateway.llm", "gateway.tts", "gateway.lipsync"} <= set(stages)
    # Each service's server span sits under the turn span (through its stage and client span).
    servers = {s.service: s for s in spans if s.span.kind == SERVER_KIND}
    assert set(SERVICES) <= set(servers), sorted(servers)
    for service in SERVICES:
        assert turn.span_id in _ancestors(servers[service], spans), service
    for stage, service in (
        ("gateway.llm", "llm_svc"),
        ("gateway.tts", "tts_svc"),
        ("gateway.lipsync", "lipsync_svc"),
    ):
        assert stages[stage].span_id in _ancestors(servers[service], spans), stage


async def test_the_second_turn_has_its_own_trace(traced_run: TracedRun) -> None:
    collector = traced_run.collector
    first, second = (_turn_span(collector, s.turn_id) for s in traced_run.recorder.asked)
    assert first is not None and second is not None
    assert first.trace_id != second.trace_id
    names = {s.span.name for s in collector.trace(second.trace_id)}
    assert {"gateway.llm", "gateway.tts", "gateway.lipsync"} <= names
    # Its question was heard on the ASR stream that lives in the first turn's trace.
    linked = {link.span_id.hex() for link in second.span.links}
    assert first.span_id in linked


async def test_gateway_metrics_report_stage_latencies_and_active_sessions(
    traced_run: TracedRun,
) -> None:
    metrics = [(n, p) for service, n, p in traced_run.collector.metrics if service == "gateway"]
    stages = {
        str(a.value.string_value)
        for name, points in metrics
        if name == "vtutor.gateway.stage.duration"
        for point in points
        for a in point.attributes
        if a.key == "stage"
    }
    assert {"asr_final", "llm", "tts", "lipsync", "response"} <= stages
    sessions = [
        point.as_int if point.HasField("as_int") else point.as_double
        for name, points in metrics
        if name == "vtutor.gateway.active_sessions"
        for point in points
    ]
    assert sessions and max(sessions) == 1  # the one student's session
    frames = [
        point.as_int
        for name, points in metrics
        if name == "vtutor.gateway.media.frames"
        for point in points
    ]
    assert frames and max(frames) > 0
