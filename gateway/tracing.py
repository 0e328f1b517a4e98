"""Turn traces: one trace per turn, a child span per stage, upstream calls made inside them.

A turn's trace has a ``gateway.turn`` root span (from the end of the student's speech, or the
typed message, to the end of the turn) with children ``gateway.asr_final`` (end of speech ->
final transcript), ``gateway.llm``, ``gateway.tts`` and ``gateway.lipsync`` (or
``gateway.speaker`` for audio-only turns). Each upstream gRPC call is made while its stage span
is current, so the client interceptor's span and the service's server span join the trace.

The ASR stream is different: it lives as long as the conversation and exists before any turn.
It is opened under ids reserved for the next spoken turn's span (see
``svc_core.telemetry.PlannedIdGenerator``), so the turn it first serves holds its spans; later
turns on the same stream link to that turn. Turns also link to the Converse call's span.

With no exporter configured the global tracer is a no-op and all of this costs next to nothing.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanContext, StatusCode, TraceFlags

from gateway.stream_clock import StreamClock
from gateway.turn_records import TurnOutcome, TurnTimings
from svc_core.telemetry import planned_span_ids

TRACER = trace.get_tracer("gateway")

# TurnTimings field -> span event name, in pipeline order.
_MILESTONES = (
    ("end_of_speech_us", "end_of_speech"),
    ("final_transcript_us", "final_transcript"),
    ("first_token_us", "first_token"),
    ("first_audio_us", "first_audio"),
    ("first_frame_us", "first_frame"),
    ("last_token_us", "last_token"),
    ("last_frame_us", "last_frame"),
)


def epoch_ns(clock: StreamClock, stream_us: int) -> int:
    """The wall-clock time (ns since the epoch) of an instant on a stream's clock."""
    return time.time_ns() - (clock.now_us() - stream_us) * 1000


class TurnTrace:
    """The spans of one turn.

    Args:
        span: The turn's root span (already started).
        clock: The stream's clock, which the turn's timings are on.
    """

    def __init__(self, span: Span, clock: StreamClock) -> None:
        self.span = span
        self._clock = clock
        self._ended = False

    @classmethod
    def start(
        cls,
        turn_id: str,
        clock: StreamClock,
        *,
        start_us: int | None = None,
        links: list[Link] | None = None,
        planned: SpanContext | None = None,
        attributes: dict[str, str] | None = None,
    ) -> TurnTrace:
        """Starts a turn's root span (a new trace).

        Args:
            turn_id: The turn's id (an attribute of the span).
            clock: The stream's clock.
            start_us: When the turn began on ``clock`` (end of speech); now when None.
            links: Links to related spans (the conversation, the ASR stream).
            planned: Reserved ids the span must have (the ASR stream is already their child).
            attributes: More attributes of the span.
        """
        start_ns = epoch_ns(clock, start_us) if start_us else time.time_ns()
        ids = (
            planned_span_ids(planned.trace_id, planned.span_id)
            if planned is not None
            else contextlib.nullcontext()
        )
        with ids:
            span = TRACER.start_span(
                "gateway.turn",
                context=otel_context.Context(),  # a root: one trace per turn
                links=links or [],
                start_time=start_ns,
                attributes={"vtutor.turn_id": turn_id, **(attributes or {})},
            )
        return cls(span, clock)

    @property
    def context(self) -> SpanContext:
        """The turn span's context."""
        return self.span.get_span_context()

    def record_asr_final(self, timings: TurnTimings) -> None:
        """Records end of speech -> final transcript as a child span (it has already happened)."""
        if not (timings.end_of_speech_us and timings.final_transcript_us):
            return
        span = TRACER.start_span(
            "gateway.asr_final",
            context=trace.set_span_in_context(self.span),
            start_time=epoch_ns(self._clock, timings.end_of_speech_us),
        )
        span.end(end_time=epoch_ns(self._clock, timings.final_transcript_us))

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[Span]:
        """A child span for one stage, current inside the block (upstream calls join it).

        Cancellation (barge-in) marks the span ``vtutor.cancelled`` rather than as an error.
        """
        span = TRACER.start_span(f"gateway.{name}", context=trace.set_span_in_context(self.span))
        with trace.use_span(
            span, end_on_exit=True, record_exception=False, set_status_on_exception=False
        ):
            try:
                yield span
            except BaseException as exc:
                if isinstance(exc, Exception):
                    span.record_exception(exc)
                    span.set_status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}")
                else:
                    span.set_attribute("vtutor.cancelled", True)
                raise

    def end(self, outcome: TurnOutcome, timings: TurnTimings, *, error: str = "") -> None:
        """Ends the turn span with its outcome, stage timestamps as events, and stage times."""
        if self._ended:
            return
        self._ended = True
        span = self.span
        span.set_attribute("vtutor.outcome", outcome.value)
        for field, event in _MILESTONES:
            value = getattr(timings, field)
            if value:
                span.add_event(event, timestamp=epoch_ns(self._clock, value))
        for name, ms in stage_latencies_ms(timings).items():
            span.set_attribute(f"vtutor.latency_ms.{name}", ms)
        if outcome is TurnOutcome.FAILED:
            span.set_status(StatusCode.ERROR, error or "turn failed")
        span.end()

    def discard(self, reason: str) -> None:
        """Ends the span of a speculative answer that was dropped before it was shown."""
        if self._ended:
            return
        self._ended = True
        self.span.set_attribute("vtutor.speculation", "discarded")
        self.span.set_attribute("vtutor.discard_reason", reason)
        self.span.end()


def caller_links() -> list[Link]:
    """A link to the current span (the Chat call a turn answers), if there is one."""
    caller = trace.get_current_span().get_span_context()
    return [Link(caller, {"vtutor.link": "caller"})] if caller.is_valid else []


def stage_latencies_ms(timings: TurnTimings) -> dict[str, float]:
    """Time spent in each stage of a turn, in ms (stages that did not happen are left out).

    ``asr_final``: end of speech -> final transcript; ``llm``: final transcript -> first token;
    ``tts``: first token -> first audio; ``lipsync``: first audio -> first frame; ``response``:
    end of speech (or the typed message) -> first frame, or first audio without video.
    """
    out: dict[str, float] = {}
    pairs = (
        ("asr_final", timings.end_of_speech_us, timings.final_transcript_us),
        ("llm", timings.final_transcript_us, timings.first_token_us),
        ("tts", timings.first_token_us, timings.first_audio_us),
        ("lipsync", timings.first_audio_us, timings.first_frame_us),
    )
    for name, start, end in pairs:
        if start and end:
            out[name] = (end - start) / 1000
    begin = timings.end_of_speech_us or timings.final_transcript_us
    answer = timings.first_frame_us or timings.first_audio_us
    if begin and answer:
        out["response"] = (answer - begin) / 1000
    return out


class ConversationTracing:
    """The trace side of one Converse stream: reserved ids for the ASR stream, turn links."""

    def __init__(self, clock: StreamClock, session_id: str) -> None:
        self._clock = clock
        self._session_id = session_id
        # Created inside the Converse handler: the current span is the Converse server span.
        self._conversation = trace.get_current_span().get_span_context()
        self._planned: SpanContext | None = None
        self._planned_since_ns = 0
        self._asr_turn: SpanContext | None = None

    @contextlib.contextmanager
    def asr_stream(self) -> Iterator[None]:
        """Open the ASR stream inside this block: it joins the next spoken turn's trace."""
        if self._planned is None:
            self._planned = SpanContext(
                trace_id=random.getrandbits(128) or 1,
                span_id=random.getrandbits(64) or 1,
                is_remote=False,
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
            )
            self._planned_since_ns = time.time_ns()
        with trace.use_span(NonRecordingSpan(self._planned), end_on_exit=False):
            yield

    def start_turn(self, turn_id: str, *, spoken: bool, start_us: int) -> TurnTrace:
        """Starts a turn's trace; a spoken turn takes the ASR stream's reserved ids if unused."""
        links = []
        if self._conversation.is_valid:
            links.append(Link(self._conversation, {"vtutor.link": "conversation"}))
        planned = None
        if spoken:
            planned, self._planned = self._planned, None
            if planned is None and self._asr_turn is not None:
                links.append(Link(self._asr_turn, {"vtutor.link": "asr_stream"}))
        turn = TurnTrace.start(
            turn_id,
            self._clock,
            start_us=start_us or None,
            links=links,
            planned=planned,
            attributes={"vtutor.session_id": self._session_id},
        )
        if planned is not None and turn.context.is_valid:
            self._asr_turn = turn.context
        return turn

    def close(self) -> None:
        """Ends the stream: reserved ids no turn used become a ``gateway.listen`` span, so the
        ASR stream's spans still have their parent."""
        planned, self._planned = self._planned, None
        if planned is None:
            return
        with planned_span_ids(planned.trace_id, planned.span_id):
            span = TRACER.start_span(
                "gateway.listen",
                context=otel_context.Context(),
                start_time=self._planned_since_ns,
                attributes={"vtutor.session_id": self._session_id},
            )
        span.end()
