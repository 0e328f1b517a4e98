"""The gateway's OpenTelemetry metrics: stage latencies, turns, errors, frames, active sessions.

Instrument names (Prometheus replaces dots with underscores, so the active-session gauge is
``vtutor_gateway_active_sessions``, the metric deploy/k8s/gateway.yaml scales on):

- ``vtutor.gateway.stage.duration`` (histogram, ms, attribute ``stage``: asr_final, llm, tts,
  lipsync, response; see ``gateway.tracing.stage_latencies_ms``)
- ``vtutor.gateway.turns`` (counter, attribute ``outcome``)
- ``vtutor.gateway.speculations`` (counter, attribute ``result``: committed or discarded;
  answers prepared from an interim transcript before the final one)
- ``vtutor.gateway.errors`` (counter, attributes ``stage`` and ``code``, a gRPC status name)
- ``vtutor.gateway.media.frames`` (counter of video frames sent to clients)
- ``vtutor.gateway.media.frame_rate`` (gauge, frames per second sent over the last 5 s)
- ``vtutor.gateway.active_sessions`` (gauge, live sessions: created and not ended or expired)

Instruments come from the global meter provider, which is a no-op unless
``OTEL_METRICS_EXPORTER`` is set, so recording costs next to nothing by default.
"""

from __future__ import annotations

import time
import weakref
from collections import deque
from collections.abc import Iterable

import grpc
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from gateway.sessions import SessionRegistry
from gateway.tracing import stage_latencies_ms
from gateway.turn_records import TurnOutcome, TurnTimings

METER = metrics.get_meter("gateway")
FRAME_RATE_WINDOW_S = 5.0

_stage_duration = METER.create_histogram(
    "vtutor.gateway.stage.duration",
    unit="ms",
    description="Time spent in each stage of a turn (response: end of speech -> first frame)",
)
_turns = METER.create_counter("vtutor.gateway.turns", description="Finished turns by outcome")
_speculations = METER.create_counter(
    "vtutor.gateway.speculations",
    description="Answers prepared before the final transcript, by result (committed, discarded)",
)
_errors = METER.create_counter(
    "vtutor.gateway.errors", description="Errors reported to clients, by stage and status"
)
_frames = METER.create_counter(
    "vtutor.gateway.media.frames", unit="{frame}", description="Video frames sent to clients"
)

# Registries of the gateways in this process (one in production; tests run several).
_registries: weakref.WeakSet[SessionRegistry] = weakref.WeakSet()


class _FrameRate:
    """Frames sent per second over a sliding window, in one-second buckets."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._buckets: deque[list[int]] = deque()  # [second, frames]

    def add(self, now: float | None = None) -> None:
        second = int(now if now is not None else time.monotonic())
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1][1] += 1
        else:
            self._buckets.append([second, 1])
            self._trim(second)

    def rate(self, now: float | None = None) -> float:
        now = now if now is not None else time.monotonic()
        self._trim(int(now))
        start = now - self.window_s
        frames = sum(count for second, count in self._buckets if second >= start)
        return frames / self.window_s

    def _trim(self, second: int) -> None:
        while self._buckets and self._buckets[0][0] < second - self.window_s - 1:
            self._buckets.popleft()


_frame_rate = _FrameRate(FRAME_RATE_WINDOW_S)
# Speculations in this process by result (the benchmark reads them without an exporter).
SPECULATIONS: dict[str, int] = {"committed": 0, "discarded": 0}


def _observe_sessions(options: CallbackOptions) -> Iterable[Observation]:
    yield Observation(sum(registry.live_count for registry in list(_registries)))


def _observe_frame_rate(options: CallbackOptions) -> Iterable[Observation]:
    yield Observation(_frame_rate.rate())


METER.create_observable_gauge(
    "vtutor.gateway.active_sessions",
    callbacks=[_observe_sessions],
    unit="{session}",
    description="Live sessions (created, not ended or expired) on this gateway",
)
METER.create_observable_gauge(
    "vtutor.gateway.media.frame_rate",
    callbacks=[_observe_frame_rate],
    unit="{frame}/s",
    description="Video frames sent to clients per second, over the last 5 s",
)


def watch_sessions(registry: SessionRegistry) -> None:
    """Counts ``registry``'s live sessions in ``vtutor.gateway.active_sessions``."""
    _registries.add(registry)


def record_turn(outcome: TurnOutcome, timings: TurnTimings) -> None:
    """Records a finished turn and the time spent in each of its stages."""
    _turns.add(1, {"outcome": outcome.value})
    if outcome is TurnOutcome.FAILED:
        return
    for stage, ms in stage_latencies_ms(timings).items():
        _stage_duration.record(ms, {"stage": stage})


def record_speculation(*, committed: bool) -> None:
    """Records a speculative answer that became the turn, or was dropped."""
    result = "committed" if committed else "discarded"
    _speculations.add(1, {"result": result})
    SPECULATIONS[result] += 1


def record_error(stage: str, code: int) -> None:
    """Records an error sent to a client (``code``: a gRPC status code number)."""
    name = next((c.name for c in grpc.StatusCode if c.value[0] == code), str(code))
    _errors.add(1, {"stage": stage or "gateway", "code": name})


def record_frame() -> None:
    """Records a video frame sent to a client."""
    _frames.add(1)
    _frame_rate.add()
